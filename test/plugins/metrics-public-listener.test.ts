import t from 'tap'
import { request } from 'undici'
import { build } from '../helper.js'

// An attack on the metrics that did not get through (review of e25c095),
// kept as a regression test.

t.test('held: /metrics is not on the public listener; route labels never take the raw URL', async (t) => {
  const { app } = await build(t, { env: { METRICS_PORT: '0' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  for (const path of ['/metrics', '/metrics/', '//metrics', '/metrics?x', '/%6detrics']) {
    const res = await request(`${base}${path}`)
    await res.body.dump()
    t.equal(res.statusCode, 404, path)
  }
  for (let i = 0; i < 20; i++) await (await request(`${base}/probe-${i}`)).body.dump()
  const text = await (await request(app.metricsUrl!)).body.text()
  t.notMatch(text, /probe-/, 'unmatched URLs share the label "unmatched"')
})
