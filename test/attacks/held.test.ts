import t from 'tap'
import { APP, REDIS_URL, build, redisNamespace, startFakeWechat, testDatabase } from '../helper.js'
import { bearer, liveRefreshTokens, login, refresh } from '../helpers/auth.js'

// Attacks that did NOT break the service (kept so the coverage is visible).

t.test('held: 20 users logging in at once each get their own grant; same-code replays across two instances stay one grant', async (t) => {
  const { prefix } = await redisNamespace(t)
  const fake = await startFakeWechat(t)
  const db = await testDatabase(t)
  const env = { REDIS_URL, REDIS_PREFIX: prefix }
  const one = (await build(t, { db, fake, env })).app
  const two = (await build(t, { db, fake, env })).app
  fake.setFault({ delayMs: 150 })
  const codes = Array.from({ length: 20 }, (_v, i) => ({ user: `p-${i}`, code: fake.login(APP.appid, `p-${i}`).code }))
  const results = await Promise.all(codes.flatMap(({ code }) => [one, two, one].map((app) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } }))))
  fake.setFault(undefined)
  t.same(new Set(results.map((r) => r.statusCode)), new Set([200]))
  for (let i = 0; i < 20; i++) {
    const bodies = results.slice(3 * i, 3 * i + 3).map((r) => r.body)
    t.equal(new Set(bodies).size, 1, `user ${i}: one grant`)
    const me = (await one.inject({ method: 'GET', url: '/v1/me', headers: bearer(JSON.parse(bodies[0]!).accessToken) })).json()
    t.equal(me.openid, fake.openid(APP.appid, codes[i]!.user), `user ${i}: their own account`)
  }
})

t.test('held: a grace-window replay racing the owner two rotations ahead revokes, never forks', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  const r1 = (await refresh(app, a.refreshToken)).json()
  const [r2, replay] = await Promise.all([refresh(app, r1.refreshToken), refresh(app, a.refreshToken)])
  t.comment(`owner ${r2.statusCode}, replay of the first token ${replay.statusCode} ${replay.json().code ?? ''}`)
  const live = await liveRefreshTokens(prisma)
  t.ok(live <= 1, 'never two live tokens')
})

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
