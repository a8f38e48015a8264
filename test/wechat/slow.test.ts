import t from 'tap'
import { APP, build } from '../helper.js'

t.test('attack: three hundred logins waiting on a slow WeChat all succeed', async (t) => {
  const { app, fake } = await build(t, { env: { WECHAT_TIMEOUT_MS: '5000' } })
  const codes = Array.from({ length: 300 }, (_v, i) => fake.login(APP.appid, `slow-${i}`).code)
  fake.setFault({ delayMs: 2500 })
  const results = await Promise.all(codes.map((code) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })))
  const statuses = new Map<number, number>()
  for (const r of results) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1)
  t.same(Object.fromEntries(statuses), { 200: 300 })
})

t.test('attack: past the configured capacity, an explicit 503 with Retry-After instead of a queue that times out', async (t) => {
  const { app, fake } = await build(t, { env: { WECHAT_TIMEOUT_MS: '5000', WECHAT_MAX_CONNECTIONS: '2', WECHAT_MAX_PENDING: '4' } })
  const codes = Array.from({ length: 10 }, (_v, i) => fake.login(APP.appid, `busy-${i}`).code)
  fake.setFault({ delayMs: 300 })
  const results = await Promise.all(codes.map((code) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })))
  const ok = results.filter((r) => r.statusCode === 200)
  const refused = results.filter((r) => r.statusCode === 503)
  t.equal(ok.length, 4, 'as many as may be pending')
  t.equal(refused.length, 6)
  for (const r of refused) {
    t.match(r.json(), { code: 'WECHAT_OVERLOADED', message: /retry/ })
    t.match(r.headers['retry-after'], /^\d+$/)
  }
  t.equal(fake.callCount('/sns/jscode2session'), 4, 'a refused login never reached WeChat')
})
