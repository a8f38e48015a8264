import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import t from 'tap'
import { APP, REDIS_URL, build, redisNamespace } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { capture } from '../helpers/log.js'
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

t.test('TRUST_PROXY as a hop count: the address the nearest proxy saw is the client, for the limiter and the log', async (t) => {
  const { lines, logger } = capture()
  const { app, fake } = await build(t, { logger, env: { RATE_LIMIT_AUTH_MAX: '2', TRUST_PROXY: '1' } })
  // One proxy in front: X-Forwarded-For "a, b" from it means the proxy was reached by b; a is whatever b claimed.
  const via = (forwarded: string) => loginFrom(app, fake, '10.0.0.1', { 'x-forwarded-for': forwarded })
  const statuses = [
    (await via('198.51.100.1, 203.0.113.20')).statusCode,
    (await via('198.51.100.2, 203.0.113.20')).statusCode,
    (await via('198.51.100.3, 203.0.113.20')).statusCode
  ]
  t.same(statuses, [200, 200, 429], 'one client (b), whatever it puts in front of its own address')
  t.equal((await via('198.51.100.1, 203.0.113.21')).statusCode, 200, 'another client behind the same proxy has its own budget')
  t.equal((await loginFrom(app, fake, '10.0.0.1')).statusCode, 200, 'no header: the proxy itself is the client')
  const ips = lines.map((line) => JSON.parse(line) as { msg?: string, ip?: string }).filter((line) => line.msg === 'request').map((line) => line.ip)
  t.same(ips, ['203.0.113.20', '203.0.113.20', '203.0.113.20', '203.0.113.21', '10.0.0.1'], 'the log names the same client')
})

t.test('decrypt, verify and phone share one budget per user, not per IP, and each refuses past it', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_USER_MAX: '3' } })
  const alice = await login(app, fake, 'alice')
  const bob = await login(app, fake, 'bob')
  const post = (url: string, token: string, payload: object) => app.inject({ method: 'POST', url, headers: bearer(token), payload })
  const phoneCode = () => fake.phoneCode(APP.appid, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  // One call of each kind, each well-formed and answered: all three count against alice's budget of 3.
  const calls = {
    decrypt: (who: string, token: string) => post('/v1/auth/decrypt', token, (({ encryptedData, iv }) => ({ encryptedData, iv }))(fake.userInfo(APP.appid, who, { nickName: who }))),
    verify: (who: string, token: string) => post('/v1/auth/verify', token, (({ rawData, signature }) => ({ rawData, signature }))(fake.userInfo(APP.appid, who, { nickName: who }))),
    phone: (_who: string, token: string) => post('/v1/auth/phone', token, { code: phoneCode() })
  }
  for (const [name, call] of Object.entries(calls)) t.equal((await call('alice', alice.accessToken)).statusCode, 200, `${name}: counted, answered`)
  const phoneCalls = fake.callCount('/wxa/business/getuserphonenumber')
  for (const [name, call] of Object.entries(calls)) {
    const limited = await call('alice', alice.accessToken)
    t.equal(limited.statusCode, 429, `${name}: refused once the shared budget is spent`)
    t.equal(limited.json().code, 'RATE_LIMITED')
  }
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), phoneCalls, 'a limited phone call never reaches WeChat')
  for (const [name, call] of Object.entries(calls)) t.equal((await call('bob', bob.accessToken)).statusCode, 200, `${name}: bob, same IP, has his own budget`)
  const unauthenticated = await app.inject({ method: 'POST', url: '/v1/auth/verify', payload: { rawData: '{}', signature: 'x' } })
  t.equal(unauthenticated.json().code, 'AUTH_TOKEN_MISSING', 'authentication comes first')
})

t.test('a global limit covers every route, those with limits of their own too; health checks are exempt', async (t) => {
  // Login, refresh and the user-data routes keep their own budgets at the helper's 100000: a 429 here is the global one.
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3' } })
  const spec = app.swagger() as { paths: Record<string, Record<string, unknown>> }
  const routes = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase() as 'GET' | 'POST', path })))
  const exempt = new Set(['/healthz', '/readyz'])
  const limited = routes.filter((r) => !exempt.has(r.path))
  for (const path of ['/v1/auth/login', '/v1/auth/refresh', '/v1/auth/decrypt', '/v1/auth/verify', '/v1/auth/phone', '/v1/me', '/.well-known/jwks.json']) {
    t.ok(limited.some((r) => r.path === path), `${path} is among the routes tried`)
  }
  // Each route from an address of its own: three requests pass the global limit, the fourth is refused.
  for (const [i, route] of limited.entries()) {
    const send = () => app.inject({ method: route.method, url: route.path, remoteAddress: `198.51.100.${i + 1}`, payload: route.method === 'POST' ? {} : undefined })
    const statuses = [(await send()).statusCode, (await send()).statusCode, (await send()).statusCode]
    t.notOk(statuses.includes(429), `${route.method} ${route.path}: the first three are not limited (${statuses.join(', ')})`)
    const fourth = await send()
    t.equal(fourth.statusCode, 429, `${route.method} ${route.path}: the fourth is`)
    t.equal(fourth.json().code, 'RATE_LIMITED')
  }
  // One budget per address across routes, not one per route.
  const mixed = []
  for (const url of ['/.well-known/jwks.json', '/v1/me', '/v1/auth/session', '/v1/auth/login']) {
    mixed.push((await app.inject({ method: url === '/v1/auth/login' ? 'POST' : 'GET', url, remoteAddress: '203.0.113.50', payload: url === '/v1/auth/login' ? {} : undefined })).statusCode)
  }
  t.equal(mixed[3], 429, `requests to different routes share the address's budget (${mixed.join(', ')})`)
  for (const path of exempt) {
    t.ok(routes.some((r) => r.path === path), `${path} is documented`)
    for (let i = 0; i < 5; i++) t.not((await app.inject({ method: 'GET', url: path, remoteAddress: '203.0.113.50' })).statusCode, 429, `${path} is exempt`)
  }
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
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  const counter = async () => Number(await redis.get(`${prefix}ratelimit:login:203.0.113.8`) ?? 0)

  t.equal((await loginFrom(app, fake, '203.0.113.8')).statusCode, 200)
  t.equal(await counter(), 1, 'counted in Redis')
  await proxy.cut()
  const during = [(await loginFrom(app, fake, '203.0.113.8')).statusCode, (await loginFrom(app, fake, '203.0.113.8')).statusCode, (await loginFrom(app, fake, '203.0.113.8')).statusCode]
  t.same(during, [200, 200, 429], 'local counters start from zero and still limit')
  t.equal(await counter(), 1, 'nothing reached Redis meanwhile')

  // The app's client reconnects by itself; its 'ready' event is what puts Redis back in use.
  const client = app.redis!
  const ready = client.status === 'ready' ? Promise.resolve() : once(client, 'ready')
  await proxy.restore()
  await ready
  // The local counter already stands at 3 (a 429); Redis at 1: a 200 here can only come from Redis.
  t.equal((await loginFrom(app, fake, '203.0.113.8')).statusCode, 200, 'counted in Redis again: its count, not the local one, decides')
  t.equal(await counter(), 2, 'the Redis counter grew after the restore')
  t.equal((await loginFrom(app, fake, '203.0.113.8')).statusCode, 429, 'and limits at its max')
  t.equal(await counter(), 3)
})

t.test('attack: requests to the health checks\' URLs that are no health check count against the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '5' } })
  for (const [i, method] of (['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const).entries()) {
    const statuses = []
    for (let j = 0; j < 20; j++) statuses.push((await app.inject({ method, url: j % 2 === 0 ? '/healthz' : '/readyz', remoteAddress: `203.0.113.${60 + i}` })).statusCode)
    t.same(statuses, [...Array(5).fill(404), ...Array(15).fill(429)], `${method} /healthz and /readyz`)
  }
  for (const method of ['GET', 'HEAD'] as const) {
    for (let j = 0; j < 10; j++) t.equal((await app.inject({ method, url: '/healthz', remoteAddress: '203.0.113.70' })).statusCode, 200, `${method} /healthz stays exempt`)
  }
})

t.test('attack: one IPv4 client reaching an IPv6-only service through NAT64 (64:ff9b::/96) does not spend every IPv4 client\'s budget', async (t) => {
  // A translator (SIIT-DC, RFC 7755) shows each IPv4 client as 64:ff9b::<its address>: one /64 holds them all.
  const { app, fake } = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '3' } })
  const attacker = []
  for (let i = 0; i < 6; i++) attacker.push((await loginFrom(app, fake, '64:ff9b::203.0.113.66')).statusCode)
  t.same(attacker, [200, 200, 200, 429, 429, 429], 'the attacker is limited')
  const others = []
  for (let i = 0; i < 3; i++) others.push((await loginFrom(app, fake, `64:ff9b::198.51.100.${i + 1}`)).statusCode)
  t.same(others, [200, 200, 200], 'other IPv4 clients behind the translator keep their own budgets')
  t.equal((await loginFrom(app, fake, '203.0.113.66')).statusCode, 429, 'the attacker is the same client by its IPv4 address')
})

t.test('attack: bodies that fail validation or parsing do not pass the per-user limit, nor write a row each', async (t) => {
  const built = await build(t, { env: { RATE_LIMIT_USER_MAX: '3' }, clock: () => Date.parse('2026-11-22T00:00:00Z') })
  const { app, fake, prisma } = built
  const mallory = await login(app, fake, 'mallory')
  await app.audit.flush()
  const before = (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM auth_events`)[0]!.n
  const bodies = [
    { payload: {} },
    { payload: '{"rawData":', headers: { 'content-type': 'application/json' } },
    { payload: 'x', headers: { 'content-type': 'text/plain' } }
  ]
  const answered = new Map<string, number>()
  for (const url of ['/v1/auth/decrypt', '/v1/auth/verify', '/v1/auth/phone']) {
    for (let i = 0; i < 30; i++) {
      const { payload, headers } = bodies[i % bodies.length]!
      const res = await app.inject({ method: 'POST', url, payload, headers: { ...bearer(mallory.accessToken), ...headers }, remoteAddress: `2001:db8:42:${i}::1` })
      const status = String(res.statusCode)
      answered.set(status, (answered.get(status) ?? 0) + 1)
    }
  }
  t.equal(answered.get('429'), 87, `3 of 90 malformed calls answered, then refused: ${JSON.stringify(Object.fromEntries(answered))}`)
  await app.audit.flush()
  const rows = (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM auth_events`)[0]!.n - before
  t.ok(rows <= 3 + 3, `${rows} rows for 90 malformed calls of one user from 30 /64s`)
})
