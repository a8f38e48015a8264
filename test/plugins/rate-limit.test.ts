import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { APP, REDIS_URL, build, redisNamespace } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

type App = Awaited<ReturnType<typeof build>>['app']

async function loginFrom (app: App, fake: Awaited<ReturnType<typeof build>>['fake'], ip: string, headers: Record<string, string> = {}) {
  const { code } = fake.login(APP.appid, `user-${randomBytes(4).toString('hex')}`)
  return app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, remoteAddress: ip, headers })
}

t.test('login is limited per client IP, with Retry-After and a JSON error', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '3' } })
  for (let i = 0; i < 3; i++) t.equal((await loginFrom(app, fake, '203.0.113.1')).statusCode, 200)
  const limited = await loginFrom(app, fake, '203.0.113.1')
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { statusCode: 429, code: 'RATE_LIMITED', error: 'Too Many Requests', message: /retry in \d+ s/ })
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.equal(fake.callCount('/sns/jscode2session'), 3, 'a limited login never reaches WeChat')
  t.equal((await loginFrom(app, fake, '203.0.113.2')).statusCode, 200, 'another client is unaffected')
})

t.test('without TRUST_PROXY, X-Forwarded-For cannot pick another bucket', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '2' } })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await loginFrom(app, fake, '203.0.113.1', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode)
  t.same(statuses, [200, 200, 429])
})

t.test('with TRUST_PROXY, the client address comes from X-Forwarded-For', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '2', TRUST_PROXY: '127.0.0.1' } })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await loginFrom(app, fake, '127.0.0.1', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode)
  t.same(statuses, [200, 200, 200], 'three clients behind the proxy')
  const untrusted = []
  for (let i = 0; i < 3; i++) untrusted.push((await loginFrom(app, fake, '203.0.113.9', { 'x-forwarded-for': `198.51.100.${i}` })).statusCode)
  t.same(untrusted, [200, 200, 429], 'a peer that is not the configured proxy cannot spoof')
})

t.test('decrypt, verify and phone are limited per user, not per IP', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_USER_MAX: '2' } })
  const alice = await login(app, fake, 'alice')
  const bob = await login(app, fake, 'bob')
  const verify = (token: string) => app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(token), payload: { rawData: '{}', signature: '0'.repeat(40) } })
  t.same([(await verify(alice.accessToken)).statusCode, (await verify(alice.accessToken)).statusCode], [400, 400])
  const limited = await verify(alice.accessToken)
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.equal((await verify(bob.accessToken)).statusCode, 400, 'bob, same IP, has his own budget')
  const unauthenticated = await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { rawData: '{}', signature: 'x' } })
  t.equal(unauthenticated.json().code, 'AUTH_TOKEN_MISSING', 'authentication comes first')
})

t.test('a global limit covers every route; health checks are exempt', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3' } })
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode)
  t.same(statuses, [200, 200, 200, 429])
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('Redis unreachable from the start: the service runs, limits hold per instance', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '2', REDIS_URL: 'redis://127.0.0.1:1', REDIS_PREFIX: (await redisNamespace(t)).prefix } })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await loginFrom(app, fake, '203.0.113.7')).statusCode)
  t.same(statuses, [200, 200, 429])
  const a = await login(app, fake, 'alice')
  const phone = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(a.accessToken), payload: { code: fake.phoneCode(APP.appid, { phoneNumber: '1', purePhoneNumber: '1', countryCode: '86' }) } })
  t.equal(phone.statusCode, 200, 'the access_token falls back to this instance\'s cache')
})

t.test('Redis lost mid-run: limits fall back to local counters, then shared again when it returns', async (t) => {
  const proxy = new TcpProxy(6379)
  const port = await proxy.listen(t)
  const prefix = (await redisNamespace(t)).prefix
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '2', REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: prefix } })
  t.equal((await loginFrom(app, fake, '203.0.113.8')).statusCode, 200, 'counted in Redis')
  await proxy.cut()
  const during = [(await loginFrom(app, fake, '203.0.113.8')).statusCode, (await loginFrom(app, fake, '203.0.113.8')).statusCode, (await loginFrom(app, fake, '203.0.113.8')).statusCode]
  t.same(during, [200, 200, 429], 'local counters start from zero and still limit')
  await proxy.restore()
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  let shared = false
  for (let i = 0; i < 50 && !shared; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    shared = (await loginFrom(app, fake, '203.0.113.8')).statusCode === 429 && (await redis.keys(`${prefix}ratelimit:*`)).length > 0
  }
  t.ok(shared, 'counting in Redis again after it came back')
})
