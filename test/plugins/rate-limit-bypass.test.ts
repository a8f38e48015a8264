import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

const IP = '203.0.113.66'

t.test('attack: a flood of bad Bearer tokens is counted by the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '5' } })
  for (const [method, url, payload] of [['GET', '/v1/me', undefined], ['POST', '/v1/auth/decrypt', { encryptedData: 'AAAA', iv: 'AAAA' }]] as const) {
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) {
      const res = await app.inject({ method, url, headers: bearer(`garbage.${i}.token`), payload, remoteAddress: `${IP.slice(0, -2)}${url.length}` })
      statuses.push(res.statusCode)
    }
    t.same(statuses, [401, 401, 401, 401, 401, 429, 429, 429], `${method} ${url}`)
  }
  const missing = []
  for (let i = 0; i < 6; i++) missing.push((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: '203.0.113.77' })).statusCode)
  t.same(missing, [401, 401, 401, 401, 401, 429], 'no header at all is counted too')
})

t.test('attack: the per-user limit comes on top of the per-IP limit, it does not replace it', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '6', RATE_LIMIT_USER_MAX: '100' } })
  const alice = await login(app, fake, 'alice')
  const bob = await login(app, fake, 'bob')
  const verify = (token: string) => app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(token), payload: { rawData: '{}', signature: '0'.repeat(40) }, remoteAddress: IP })
  const statuses = []
  for (const token of [alice, bob, alice, bob, alice, bob, alice].map((u) => u.accessToken)) statuses.push((await verify(token)).statusCode)
  t.same(statuses, [400, 400, 400, 400, 400, 400, 429], 'several users behind one IP share the per-IP budget')
})

t.test('attack: logins and refreshes count against the per-IP limit as well as their own', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3', RATE_LIMIT_AUTH_MAX: '100' } })
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const { code } = fake.login(APP.appid, `user-${i}`)
    statuses.push((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, remoteAddress: IP })).statusCode)
  }
  t.same(statuses, [200, 200, 200, 429])
})

t.test('attack: requests whose URL does not decode are not counted by the per-IP limit', async (t) => {
  // Fastify answers FST_ERR_BAD_URL before the root onRequest hooks run (plugins/rate-limit.ts).
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3' } })
  const statuses = []
  for (let i = 0; i < 20; i++) statuses.push((await app.inject({ method: 'GET', url: `/v1/me%zz${i}`, remoteAddress: '198.51.100.7' })).statusCode)
  t.comment(statuses.join(','))
  // Failed on cd7c1d9: twenty 400s, no 429 (cheap: no database, no WeChat; the README says "every request").
  t.ok(statuses.includes(429), 'every request counts against the per-IP limit')
})

// An attack that did not get through (kept so the coverage is visible).
t.test('held: X-Forwarded-For and X-Request-Id from an untrusted peer change nothing', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3' } })
  const statuses = []
  for (let i = 0; i < 5; i++) {
    statuses.push((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': `10.0.0.${i}`, 'x-real-ip': `10.1.0.${i}`, 'x-request-id': `r${i}` } })).statusCode)
  }
  t.same(statuses, [401, 401, 401, 429, 429])
  for (const url of ['/V1/ME', '//v1/me', '/v1/me/', '/v1/me?x=1', '/healthz?x', '/readyz/']) {
    const r = await app.inject({ method: 'GET', url, remoteAddress: '203.0.113.9' })
    t.equal(r.statusCode, 429, `${url} counted`)
  }
  for (const method of ['HEAD', 'OPTIONS', 'DELETE'] as const) {
    t.equal((await app.inject({ method, url: '/v1/me', remoteAddress: '203.0.113.9' })).statusCode, 429, `${method} counted`)
  }
  const mapped = []
  for (let i = 0; i < 4; i++) mapped.push((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: i % 2 === 0 ? '198.51.100.4' : '::ffff:198.51.100.4' })).statusCode)
  t.same(mapped, [401, 401, 401, 429], 'IPv4 and its IPv4-mapped form share one budget')
  const v6 = []
  for (let i = 0; i < 4; i++) v6.push((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: `2001:db8:5:6::${i + 1}` })).statusCode)
  t.same(v6, [401, 401, 401, 429], 'one IPv6 /64 is one budget')
})
