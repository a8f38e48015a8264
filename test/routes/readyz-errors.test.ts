import pg from 'pg'
import t from 'tap'
import { ADMIN_URL, build } from '../helper.js'
import { capture } from '../helpers/log.js'

t.test('attack: /readyz does not publish database errors', async (t) => {
  const { lines, logger } = capture()
  let now = Date.now()
  const { app, testDb } = await build(t, { logger, clock: () => now })
  const name = new URL(testDb.url).pathname.slice(1)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`)
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
  t.teardown(async () => { await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`); await admin.end() })
  // The first check meets the pooled connection the server just ended; the second a refused new one that names the database.
  for (let i = 0; i < 2; i++) {
    now += 2000 // past the one-second memory of the last verdict
    const res = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(res.statusCode, 503)
    t.notMatch(res.body, name, 'no database name in the answer')
    t.match(res.json(), { status: 'unavailable', reason: /^database (unreachable|check failed)$/ })
  }
  t.ok(lines.some((line) => line.includes(`database \\"${name}\\" is not currently accepting connections`)), 'the details are in the log')
})
