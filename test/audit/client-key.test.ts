import t from 'tap'
import { APP, build, startFakeWechat, testDatabase } from '../helper.js'
import { buildUnlessRefused } from '../helpers/config.js'

// The audit trail names a client as the rate limiter does (an IPv6 /64 is one
// client), and records the address and request id the service vouches for,
// never ones a client wrote in a header.

type Built = Awaited<ReturnType<typeof build>>

async function count (built: Built): Promise<number> {
  await built.app.audit.flush()
  const [row] = await built.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM auth_events`
  return row!.n
}

t.test('attack: 2000 bad logins from 2000 addresses of one IPv6 /64 write O(1) audit rows', async (t) => {
  const built = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '20' } })
  const { app, fake } = built
  const statuses = new Map<number, number>()
  for (let batch = 0; batch < 2000; batch += 50) {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, j) => {
      const i = batch + j
      return app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: `nosuchcode${String(i).padStart(22, '0')}` }, remoteAddress: `2001:db8:7:8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}:0:1` })
    }))
    for (const answer of answers) statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1)
  }
  t.same(Object.fromEntries(statuses), { 401: 20, 429: 1980 }, 'one /64 is one client to the limiter')
  t.equal(fake.callCount('/sns/jscode2session'), 20, 'only the limit reached WeChat')
  const rows = await count(built)
  t.ok(rows <= 2, `one row per client, route, outcome and minute: ${rows} rows for 2000 requests`)
  // Each address of another /64 is another client.
  await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 'nosuchcode' + 'x'.repeat(22) }, remoteAddress: '2001:db8:7:9::1' })
  t.equal(await count(built), rows + 1, 'another /64 is recorded on its own')
})
t.test('attack: an audit row never carries an address or a request id the client invented', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  // The client reaches the service through a proxy at 10.0.0.1, which appends the address it saw
  // (203.0.113.5) to the client's X-Forwarded-For and passes the client's X-Request-Id along.
  const accepted: string[] = []
  for (const trustProxy of ['true', '1', '10.0.0.1', '10.0.0.0/8']) {
    const built = await buildUnlessRefused(t, { testDb, fake, env: { TRUST_PROXY: trustProxy } })
    if (built === undefined) continue
    accepted.push(trustProxy)
    await built.prisma.$executeRaw`DELETE FROM auth_events`
    const { code } = fake.login(APP.appid, `alice-${trustProxy}`)
    const headers = { 'x-forwarded-for': '198.51.100.66, 203.0.113.5', 'x-request-id': 'invented-by-client' }
    t.equal((await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, headers, remoteAddress: '10.0.0.1' })).statusCode, 200)
    await built.app.audit.flush()
    const [row] = await built.prisma.$queryRaw<{ ip: string, request_id: string }[]>`SELECT ip, request_id FROM auth_events`
    t.equal(row!.ip, '203.0.113.5', `TRUST_PROXY=${trustProxy}: the address the proxy saw, not the one the client wrote`)
    t.not(row!.request_id, 'invented-by-client', `TRUST_PROXY=${trustProxy}: not the client's request id`)
  }
  t.same(accepted, ['1', '10.0.0.1', '10.0.0.0/8'], 'TRUST_PROXY=true is refused at start')
})

t.test('attack: 10,001 /64s of one /48 replaying bad logins do not evict the audit\'s memory of who was recorded', async (t) => {
  // A /48 holds 65,536 /64s, each a client. Past the 10,000 the memory holds, forgetting the oldest
  // let every request of a round through them write a row again: one row per request.
  let now = Date.UTC(2026, 11, 6, 12)
  const built = await build(t, { clock: () => now })
  const clients = 10_001
  for (let round = 0; round < 2; round++) {
    for (let batch = 0; batch < clients; batch += 500) {
      await Promise.all(Array.from({ length: Math.min(500, clients - batch) }, (_, j) => {
        const i = batch + j
        return built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: {}, remoteAddress: `2001:db8:77:${i.toString(16)}::1` })
      }))
    }
  }
  const rows = await count(built)
  t.ok(rows <= clients, `${rows} rows for ${2 * clients} requests from ${clients} clients in one minute`)
  now += 61_000
  await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: {}, remoteAddress: '2001:db8:78::1' })
  t.equal(await count(built), rows + 1, 'a minute later the memory has room again')
})
