import t from 'tap'
import { request } from 'undici'
import { APP, build } from '../helper.js'

// weapp_auth_wechat_requests_total labels its outcome `errcode_<n>` with
// whatever number WeChat's body carried: any integer, a fraction, 1e308. A
// WeChat that lies (the threat model of lying-wechat-login.test.ts: a proxy, a
// hijacked DNS entry, a buggy gateway) mints one time series per distinct
// value, without bound, in this process and in Prometheus. Errcodes the
// service knows should keep their label; the rest should share one.

t.test('attack: distinct errcodes from WeChat make distinct metric series without bound', async (t) => {
  const { app, fake } = await build(t, { env: { METRICS_PORT: '0' } })
  for (let i = 0; i < 50; i++) {
    fake.setFault({ errcode: 900000 + i * 7 + 0.5, times: 1 })
    await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, `u${i}`).code } })
  }
  const text = await (await request(app.metricsUrl!)).body.text()
  const series = text.split('\n').filter((line) => line.startsWith('weapp_auth_wechat_requests_total{'))
  t.ok(series.length <= 5, `a bounded number of series (got ${series.length}: ${series.slice(0, 3).join(' | ')} ...)`)
})
