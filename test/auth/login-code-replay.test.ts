import t from 'tap'
import type { PrismaClient as Db } from '../../src/generated/prisma/client.js'
import { APP, REDIS_URL, build, redisNamespace, startFakeWechat, testDatabase } from '../helper.js'
import { bearer, rowCounts } from '../helpers/auth.js'

const loginWith = (app: Awaited<ReturnType<typeof build>>['app'], code: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })

async function storedKeys (prisma: Db): Promise<{ current: string, previous: string | null }> {
  const [row] = await prisma.$queryRaw<{ current: string, previous: string | null }[]>`SELECT session_key_enc AS current, previous_session_key_enc AS previous FROM identities`
  return row!
}

t.test('attack: a used login code replayed after logout-all opens no session and rewrites no session_key', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  const first = await loginWith(app, code)
  t.equal(first.statusCode, 200)
  const keys = await storedKeys(prisma)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(first.json().accessToken) })).statusCode, 204)
  const replay = await loginWith(app, code)
  t.match(replay.json(), { statusCode: 401, code: 'WECHAT_CODE_USED' })
  t.match(await rowCounts(prisma), { sessions: 1 }, 'no new session')
  t.same(await storedKeys(prisma), keys, 'session_key untouched')
})

t.test('a retry of a code within the window gets the same grant and writes nothing', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  const first = (await loginWith(app, code)).json()
  const keys = await storedKeys(prisma)
  const retry = await loginWith(app, code)
  t.equal(retry.statusCode, 200)
  t.same(retry.json(), first, 'the same token pair')
  t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 1, tokens: 1 })
  t.same(await storedKeys(prisma), keys)
  t.equal(fake.callCount('/sns/jscode2session'), 1)
})

t.test('attack: concurrent requests with one code share one exchange and one grant', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  fake.setFault({ delayMs: 100, times: 1 })
  const results = await Promise.all(Array.from({ length: 5 }, () => loginWith(app, code)))
  t.same(results.map((r) => r.statusCode), Array(5).fill(200))
  t.equal(new Set(results.map((r) => r.body)).size, 1, 'one grant')
  t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 1, tokens: 1 })
  t.equal(fake.callCount('/sns/jscode2session'), 1)
})

t.test('attack: the retry window closes after 10 s', async (t) => {
  let now = Date.now()
  const { app, fake, prisma } = await build(t, { clock: () => now })
  const { code } = fake.login(APP.appid, 'alice')
  t.equal((await loginWith(app, code)).statusCode, 200)
  now += 9_000
  t.equal((await loginWith(app, code)).statusCode, 200, 'still within the window')
  now += 2_000
  t.match((await loginWith(app, code)).json(), { statusCode: 401, code: 'WECHAT_CODE_USED' })
  t.match(await rowCounts(prisma), { sessions: 1 })
})

t.test('attack: with Redis, a retry reaching another instance gets the same grant, and Redis holds no usable token', async (t) => {
  const { redis, prefix } = await redisNamespace(t)
  const fake = await startFakeWechat(t)
  const testDb = await testDatabase(t)
  const env = { REDIS_URL, REDIS_PREFIX: prefix }
  const one = await build(t, { testDb, fake, env })
  const two = await build(t, { testDb, fake, env })

  const { code } = fake.login(APP.appid, 'alice')
  const first = await loginWith(one.app, code)
  t.equal(first.statusCode, 200)
  const second = await loginWith(two.app, code)
  t.equal(second.statusCode, 200)
  t.same(second.json(), first.json(), 'the same grant on the other instance')

  const other = fake.login(APP.appid, 'bob').code
  fake.setFault({ delayMs: 200, times: 1 })
  const together = await Promise.all([
    loginWith(one.app, other), loginWith(two.app, other), loginWith(one.app, other), loginWith(two.app, other)
  ])
  t.same(together.map((r) => r.statusCode), [200, 200, 200, 200])
  t.equal(new Set(together.map((r) => r.body)).size, 1, 'one grant across instances while the exchange is in flight')
  t.equal(fake.callCount('/sns/jscode2session'), 2, 'one exchange per code')
  t.same(await rowCounts(one.prisma), { users: 2, identities: 2, sessions: 2, tokens: 2 })

  const keys = await redis.keys(`${prefix}*`)
  const values = await Promise.all(keys.map(async (key) => (await redis.type(key)) === 'string' ? redis.get(key) : ''))
  const dump = keys.join('\n') + values.join('\n')
  for (const body of [first.json(), together[0]!.json()]) {
    t.notOk(dump.includes(body.accessToken), 'no access token in Redis')
    t.notOk(dump.includes(body.refreshToken), 'no refresh token in Redis')
  }
  t.notOk(dump.includes(code) || dump.includes(other), 'no login code in Redis')
})

// An attack that did not get through (kept so the coverage is visible).
t.test('held: 20 users logging in at once each get their own grant; same-code replays across two instances stay one grant', async (t) => {
  const { prefix } = await redisNamespace(t)
  const fake = await startFakeWechat(t)
  const testDb = await testDatabase(t)
  const env = { REDIS_URL, REDIS_PREFIX: prefix }
  const one = (await build(t, { testDb, fake, env })).app
  const two = (await build(t, { testDb, fake, env })).app
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
