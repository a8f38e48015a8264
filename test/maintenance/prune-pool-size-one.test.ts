import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { Pruner } from '../../src/maintenance/pruner.js'
import { testDatabase } from '../helper.js'

// The pruner holds its advisory lock on a connection taken from the pool for the
// whole pass, and deletes through Prisma on that same pool. With one connection
// (DATABASE_POOL_SIZE=1, which the config allows, and the embedded database,
// which npm start always opens with a pool of 1) the deletes wait for the
// connection the lock holds: after connectionTimeoutMillis (3 s) the pass fails.
// Every pass: nothing is ever pruned (the tables grow without bound), and each
// hour every request queues behind the stuck pass for 3 s.

const DAY = 86_400

t.test('attack: with a pool of one connection the pruner deadlocks on itself and never prunes', async (t) => {
  const testDb = await testDatabase(t)
  const database = openDatabase({ url: testDb.url, poolSize: 1, namedStatements: !testDb.embedded })
  t.teardown(() => database.close())
  await database.prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) VALUES (now() - interval '200 days', 'login', 'ok')`
  const pruner = new Pruner(database, { sessionRetentionSeconds: 30 * DAY, auditRetentionSeconds: 180 * DAY })
  const started = Date.now()
  let result: unknown
  try {
    result = await pruner.run()
  } catch (error) {
    result = (error as Error).message
  }
  t.same(result, { refreshTokens: 0, sessions: 0, authEvents: 1 }, 'the old audit event is pruned')
  t.ok(Date.now() - started < 2000, `the pass does not wait on itself (took ${Date.now() - started} ms)`)
  const [left] = await database.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM auth_events`
  t.equal(left!.n, 0)
})
