import pg from 'pg'
import t from 'tap'
import { build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// /readyz is public and exempt from every rate limit (a load balancer must never
// be refused), and on cd7c1d9 it ran `SELECT 1` for every request: any client
// could make unlimited database round trips in front of real users' queries.
// Now the verdict is checked at most once a second (testDb/readiness.ts).

async function commits (url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const name = new URL(url).pathname.slice(1)
    const { rows } = await client.query('SELECT xact_commit::int AS n FROM pg_stat_database WHERE datname = $1', [name])
    return rows[0].n as number
  } finally { await client.end() }
}

t.test('attack: a flood of /readyz costs about one database check a second, not one per request', async (t) => {
  const { app, fake, testDb } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '5' } })
  const alice = await login(app, fake, 'alice')
  const me = async () => {
    const started = performance.now()
    const res = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken), remoteAddress: '192.0.2.10' })
    return { status: res.statusCode, ms: Math.round(performance.now() - started) }
  }
  t.comment(`/v1/me alone: ${JSON.stringify(await me())}`)

  const before = await commits(testDb.url)
  const flood = Array.from({ length: 3000 }, (_v, i) => app.inject({ method: i % 2 === 0 ? 'GET' : 'HEAD', url: '/readyz', remoteAddress: '198.51.100.66' }))
  await new Promise((resolve) => setTimeout(resolve, 50))
  const during = await me()
  const results = await Promise.all(flood)
  await new Promise((resolve) => setTimeout(resolve, 600)) // stats are flushed at most every 500 ms
  const after = await commits(testDb.url)
  const statuses = new Map<number, number>()
  for (const r of results) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1)
  t.comment(`3000 /readyz from one address (limit 5/min): ${JSON.stringify(Object.fromEntries(statuses))}; database commits +${after - before}`)
  t.comment(`/v1/me during the flood: ${JSON.stringify(during)}`)
  // Failed on cd7c1d9: one database round trip per request.
  t.ok(after - before < 50, `the flood cost ${after - before} database transactions, not one per request`)
  t.same(Object.keys(Object.fromEntries(statuses)), ['200'], 'and every probe was answered: ready')
  t.equal(during.status, 200)
})
