import t from 'tap'
import { parseConfig } from '../../src/config/index.js'
import { problemsOf } from '../helpers/config.js'

t.test('attack: TRUST_PROXY=true, which lets any client choose its address, is refused in production and elsewhere', async (t) => {
  for (const env of ['production', 'development', 'test']) {
    const problems = problemsOf({ NODE_ENV: env, TRUST_PROXY: 'true' })
    const problem = problems.find((p) => p.startsWith('TRUST_PROXY:'))
    t.ok(problem, `NODE_ENV=${env}: refused`)
    t.match(problem, /hop count/, 'names the safe settings: a hop count')
    t.match(problem, /addresses or CIDRs/, 'or the proxies\' addresses')
  }
})

t.test('TRUST_PROXY: false, a hop count, or the proxies\' addresses and CIDRs', async (t) => {
  t.equal(parseConfig({}).trustProxy, false)
  t.equal(parseConfig({ TRUST_PROXY: 'false' }).trustProxy, false)
  t.equal(parseConfig({ TRUST_PROXY: '2' }).trustProxy, 2)
  t.same(parseConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16' }).trustProxy, ['10.0.0.1', '10.1.0.0/16'])
})

t.test('REQUEST_ID_HEADER: off by default; a header name, kept only from a trusted proxy, so TRUST_PROXY must name one', async (t) => {
  t.equal(parseConfig({}).requestIdHeader, undefined)
  t.equal(parseConfig({ TRUST_PROXY: '1', REQUEST_ID_HEADER: 'X-Request-Id' }).requestIdHeader, 'x-request-id', 'lower-cased, as Node names headers')
  t.match(problemsOf({ REQUEST_ID_HEADER: 'x-request-id' }), [/^REQUEST_ID_HEADER: .*TRUST_PROXY/])
  t.match(problemsOf({ TRUST_PROXY: '1', REQUEST_ID_HEADER: 'x request id' }), [/^REQUEST_ID_HEADER: /])
})

t.test('attack: TRUST_PROXY ranges that trust every client (true by another name) or are no address are refused at config parse', async (t) => {
  for (const trustProxy of ['0.0.0.0/0', '::/0', '0.0.0.0/1, 128.0.0.0/1', '::/1, 8000::/1', '10.0.0.0/33', 'dead', '10.0.0.1, 10.0.0']) {
    const problem = problemsOf({ TRUST_PROXY: trustProxy }).find((p) => p.startsWith('TRUST_PROXY:'))
    t.ok(problem, `TRUST_PROXY=${trustProxy}: refused, listed with the other problems`)
  }
  t.same(problemsOf({ TRUST_PROXY: '10.0.0.0/8, 172.16.0.0/12, fc00::/7, 2001:db8::1, 203.0.113.7' }), [], 'proxies\' networks and addresses are accepted')
})
