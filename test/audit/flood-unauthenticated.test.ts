import t from 'tap'
import { build } from '../helper.js'

// "A flood past a rate limit is one RATE_LIMITED row per client address, route
// and minute: the trail is not something an attacker can fill." Below the limit
// every request is a row, and the routes that authenticate (logout, logout-all,
// decrypt, verify, phone) have no limit of their own before the token check:
// a client with no token at all writes one anonymous row (256 bytes of its own
// User-Agent included) per request, at the global per-IP rate (300 a minute by
// default), 15 times the login/refresh budget: ~430,000 rows a day per address,
// kept 180 days. Rows that name no one and no session are noise an attacker
// controls; they should be collapsed like RATE_LIMITED (one per client, route,
// outcome and minute) or left to the metrics.

t.test('attack: tokenless requests to authenticated routes write one audit row each', async (t) => {
  const { app, prisma } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '300', RATE_LIMIT_AUTH_MAX: '20', RATE_LIMIT_USER_MAX: '30' } })
  const ua = 'x'.repeat(256)
  for (let i = 0; i < 300; i++) {
    const url = ['/v1/auth/logout', '/v1/auth/logout-all', '/v1/auth/decrypt', '/v1/auth/verify', '/v1/auth/phone'][i % 5]!
    await app.inject({ method: 'POST', url, headers: { 'user-agent': ua, authorization: `Bearer junk${i}` }, payload: {} })
  }
  await app.audit.flush()
  const [row] = await prisma.$queryRaw<{ n: number, anonymous: number }[]>`
    SELECT count(*)::int AS n, count(*) FILTER (WHERE user_id IS NULL AND session_id IS NULL)::int AS anonymous FROM auth_events`
  t.ok(row!.n <= 20, `one minute of one address's tokenless requests writes a bounded number of rows (wrote ${row!.n}, ${row!.anonymous} naming no one)`)
})
