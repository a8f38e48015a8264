import t from 'tap'
import { APP, REDIS_URL, build, redisNamespace, startFakeWechat, testDatabase } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// Two instances of the service on one Postgres and one Redis, as behind a load balancer.

t.test('two instances behave as one service', async (t) => {
  const { prefix } = await redisNamespace(t)
  const fake = await startFakeWechat(t)
  const testDb = await testDatabase(t)
  const env = { REDIS_URL, REDIS_PREFIX: prefix, RATE_LIMIT_AUTH_MAX: '4', REFRESH_REUSE_GRACE: '0' }
  const one = (await build(t, { testDb, fake, env })).app
  const two = (await build(t, { testDb, fake, env })).app

  t.test('a login limit is enforced across both', async (t) => {
    const attempt = (app: typeof one) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'limit').code }, remoteAddress: '203.0.113.50' })
    const statuses = []
    for (const app of [one, two, one, two, one]) statuses.push((await attempt(app)).statusCode)
    t.same(statuses, [200, 200, 200, 200, 429])
  })

  t.test('a refresh token retired on one is reuse on the other: theft detected, session revoked', async (t) => {
    const alice = await login(one, fake, 'alice')
    const rotated = await one.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })
    t.equal(rotated.statusCode, 200)
    const replay = await two.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })
    t.match(replay.json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' })
    const successor = await one.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: rotated.json().refreshToken } })
    t.match(successor.json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'the whole session is ended, on either instance')
  })

  t.test('one access_token fetch serves both', async (t) => {
    const bob = await login(two, fake, 'bob')
    const phone = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
    const results = await Promise.all(Array.from({ length: 10 }, (_v, i) => (i % 2 === 0 ? one : two).inject({
      method: 'POST', url: '/v1/auth/phone', headers: bearer(bob.accessToken), payload: { code: fake.phoneCode(APP.appid, phone) }
    })))
    t.same(results.map((r) => r.statusCode), Array(10).fill(200))
    t.equal(fake.callCount('/cgi-bin/stable_token'), 1)
  })
})
