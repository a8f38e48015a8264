import t from 'tap'
import { build } from '../helper.js'

t.test('attack: a client cannot choose its request id unless a trusted proxy sets the header named for it', async (t) => {
  const direct = (await build(t)).app
  const res = await direct.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'chosen-by-client' }, remoteAddress: '203.0.113.5' })
  t.not(res.headers['x-request-id'], 'chosen-by-client')
  const proxied = (await build(t, { env: { TRUST_PROXY: '10.0.0.1', REQUEST_ID_HEADER: 'x-request-id' } })).app
  const via = await proxied.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'from-the-proxy' }, remoteAddress: '10.0.0.1' })
  t.equal(via.headers['x-request-id'], 'from-the-proxy')
  const around = await proxied.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'around-the-proxy' }, remoteAddress: '203.0.113.5' })
  t.not(around.headers['x-request-id'], 'around-the-proxy')
})
