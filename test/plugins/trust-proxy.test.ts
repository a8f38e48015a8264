import { randomBytes } from 'node:crypto'
import t from 'tap'
import { APP, build, startFakeWechat, testDatabase } from '../helper.js'
import { buildUnlessRefused } from '../helpers/config.js'

type Built = Awaited<ReturnType<typeof build>>

t.test('attack: 60 logins with forged X-Forwarded-For do not pass a limit of 20, whatever TRUST_PROXY the service accepts', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const accepted: string[] = []
  for (const trustProxy of ['true', '1', '10.0.0.1', '10.0.0.0/8']) {
    const built = await buildUnlessRefused(t, { testDb, fake, env: { TRUST_PROXY: trustProxy, RATE_LIMIT_AUTH_MAX: '20' } })
    if (built === undefined) continue
    accepted.push(trustProxy)
    // One client behind the proxy at 10.0.0.1, writing a new left-most entry each time; the proxy appends what it saw.
    let passed = 0
    for (let i = 0; i < 60; i++) {
      const { code } = fake.login(APP.appid, `user-${randomBytes(4).toString('hex')}`)
      const res = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': `198.51.100.${i}, 203.0.113.${accepted.length}` } })
      if (res.statusCode === 200) passed++
    }
    t.equal(passed, 20, `TRUST_PROXY=${trustProxy}: ${passed} of 60 logins passed a limit of 20`)
  }
  t.same(accepted, ['1', '10.0.0.1', '10.0.0.0/8'], 'TRUST_PROXY=true is refused at start')
})

t.test('attack: 60 logins through a proxy that writes the client\'s port (Azure Application Gateway) do not pass a limit of 20', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  // The proxy at 10.0.0.1 appends `address:port` of each connection it took; the client opens a new one each time.
  for (const trustProxy of ['1', '10.0.0.0/8']) {
    for (const seen of [(port: number) => `203.0.113.7:${port}`, (port: number) => `[2001:db8:5:6::7]:${port}`]) {
      const built = await build(t, { testDb, fake, env: { TRUST_PROXY: trustProxy, RATE_LIMIT_AUTH_MAX: '20' } })
      let passed = 0
      for (let i = 0; i < 60; i++) {
        const { code } = fake.login(APP.appid, `user-${randomBytes(4).toString('hex')}`)
        const res = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': seen(40_000 + i) } })
        if (res.statusCode === 200) passed++
      }
      t.equal(passed, 20, `TRUST_PROXY=${trustProxy}, ${seen(40_000)}: ${passed} of 60 logins passed a limit of 20`)
    }
  }
})

t.test('the request id is taken from REQUEST_ID_HEADER, when the operator names it, and only from a trusted proxy', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const id = (built: Built, remoteAddress: string, headers: Record<string, string>) =>
    built.app.inject({ method: 'GET', url: '/healthz', remoteAddress, headers }).then((res) => res.headers['x-request-id'])
  const unnamed = await build(t, { testDb, fake, env: { TRUST_PROXY: '10.0.0.1' } })
  t.not(await id(unnamed, '10.0.0.1', { 'x-request-id': 'from-the-proxy' }), 'from-the-proxy', 'not named: never kept, even from the proxy')
  const named = await build(t, { testDb, fake, env: { TRUST_PROXY: '10.0.0.1', REQUEST_ID_HEADER: 'X-Amzn-Trace-Id' } })
  t.equal(await id(named, '10.0.0.1', { 'x-amzn-trace-id': 'Root-1-abc' }), 'Root-1-abc', 'the named header from the proxy')
  t.not(await id(named, '10.0.0.1', { 'x-request-id': 'other-header' }), 'other-header', 'another header is not read')
  t.not(await id(named, '203.0.113.5', { 'x-amzn-trace-id': 'around-the-proxy' }), 'around-the-proxy', 'from a peer that is not the proxy: replaced')
  t.match(await id(named, '10.0.0.1', { 'x-amzn-trace-id': 'bad id\n{"level":60}' }), /^[0-9a-f-]{36}$/, 'malformed: replaced')
})
