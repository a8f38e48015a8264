import { execFile } from 'node:child_process'
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import t from 'tap'
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js'
import { Pruner } from '../../src/maintenance/pruner.js'
import { APP, build, ED25519_PEM, testDatabase, VAULT_KEYS } from '../helper.js'
import { login } from '../helpers/auth.js'

// auth_events is partitioned by UTC day: partitions are made ahead, an insert
// never fails for want of one, and retention drops whole days. Written against
// the database's catalogue (not src/audit/partitions.ts) so that each test
// could fail on the unpartitioned table.

type Built = Awaited<ReturnType<typeof build>>
const DAY_MS = 86_400_000
const DAY = 86_400
const policy = { sessionRetentionSeconds: 30 * DAY, auditRetentionSeconds: 180 * DAY }
const midnight = (at: number) => Math.floor(at / DAY_MS) * DAY_MS
const partitionOf = (at: number) => `auth_events_p${new Date(at).toISOString().slice(0, 10).replaceAll('-', '')}`

/** The audit trail's partitions by name, and the rows in each. */
async function partitions (prisma: Built['prisma']): Promise<Map<string, number>> {
  const rows = await prisma.$queryRaw<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass('auth_events_log') ORDER BY 1`
  const counts = await prisma.$queryRaw<{ name: string, n: number }[]>`SELECT c.relname AS name, count(*)::int AS n FROM auth_events_log e JOIN pg_class c ON c.oid = e.tableoid GROUP BY 1`
  return new Map(rows.map(({ name }) => [name, counts.find((c) => c.name === name)?.n ?? 0]))
}

t.test('attack: the service at start, and every prune pass, creates the partitions of today and 7 days ahead', async (t) => {
  const now = Date.now()
  const { prisma, database } = await build(t, { clock: () => now })
  const days = (from: number) => Array.from({ length: 8 }, (_, i) => partitionOf(from + i * DAY_MS))
  let parts = await partitions(prisma)
  t.same(days(now).filter((name) => !parts.has(name)), [], 'today and the 7 days after it, at start')
  t.ok(parts.has('auth_events_default'), 'and the default partition')
  const later = now + 20 * DAY_MS
  await new Pruner(database, policy, () => later).run()
  parts = await partitions(prisma)
  t.same(days(later).filter((name) => !parts.has(name)), [], 'a pass 20 days later creates the days ahead of its clock')
})

t.test('attack: the writer keeps working after its clock passes the last partition; the next pass files its rows into their day', async (t) => {
  let now = Date.now()
  const built = await build(t, { clock: () => now })
  const { app, fake, prisma, database } = built
  await login(app, fake, 'alice')
  now += 10 * DAY_MS
  t.notOk((await partitions(prisma)).has(partitionOf(now)), '10 days on, no partition holds the day yet')
  await login(app, fake, 'bob')
  await login(app, fake, 'carol')
  await app.audit.flush()
  const [{ n }] = await prisma.$queryRaw<[{ n: number }]>`SELECT count(*)::int AS n FROM auth_events`
  t.equal(n, 3, 'every event was written')
  await new Pruner(database, policy, () => now).run()
  const parts = await partitions(prisma)
  t.equal(parts.get(partitionOf(now)), 2, 'the two late events are in their day\'s partition')
  t.equal(parts.get('auth_events_default'), 0, 'the default partition is empty again')
})

t.test('attack: with PRUNE_INTERVAL=0 (db:prune left to a cron), a service running past its days ahead still writes each event into its day, not the default', async (t) => {
  let now = Date.now()
  const { app, fake, prisma } = await build(t, { env: { PRUNE_INTERVAL: '0' }, clock: () => now })
  // No pass runs: a weekly or monthly cron, or none. The days made at start run out after 7.
  for (const days of [3, 6, 9, 12]) {
    now = Date.now() + days * DAY_MS
    await login(app, fake, `user${days}`)
    await app.audit.flush()
  }
  const parts = await partitions(prisma)
  t.equal(parts.get('auth_events_default'), 0, 'nothing in the default partition (filing it later scans all of it once per day filed)')
  t.same([3, 6, 9, 12].map((d) => parts.get(partitionOf(Date.now() + d * DAY_MS))), [1, 1, 1, 1], 'each event in its day')
  t.ok(parts.has(partitionOf(now + 7 * DAY_MS)), 'and 7 days ahead of the writer\'s clock')
})

t.test('attack: retention drops whole days in one statement each, and nothing newer', async (t) => {
  const { prisma, database } = await build(t)
  const now = Date.now()
  const today = midnight(now)
  const at = (days: number, ms: number) => new Date(today - days * DAY_MS + ms)
  // Day -181 is wholly older than the cutoff (now - 180 d); day -180 straddles it; day -179 is newer.
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${at(181, 12 * 3_600_000)}, 'login', 'ok' FROM generate_series(1, 2500)`
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${at(180, 1000)}, 'login', 'ok' FROM generate_series(1, 3)`
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${at(179, 1000)}, 'refresh', 'ok' FROM generate_series(1, 4)`
  // A pass while none of it is old files the rows into their days.
  await new Pruner(database, policy, () => now - 200 * DAY_MS).run()
  const filed = await partitions(prisma)
  t.same([181, 180, 179].map((d) => filed.get(partitionOf(today - d * DAY_MS))), [2500, 3, 4], 'each day in its partition')

  const batches: number[] = []
  const result = await new Pruner(database, policy, () => now).run((step, deleted) => { if (step === 'authEvents') batches.push(deleted) })
  t.same(batches, [2500], 'the whole day at once')
  t.equal(result!.authEvents, 2500)
  const left = await partitions(prisma)
  t.notOk(left.has(partitionOf(today - 181 * DAY_MS)), 'day -181 dropped')
  t.equal(left.get(partitionOf(today - 180 * DAY_MS)), 3, 'the day the cutoff falls in stays whole, a row older than the cutoff included')
  t.equal(left.get(partitionOf(today - 179 * DAY_MS)), 4, 'newer days stay')
  t.ok(left.has(partitionOf(now)) && left.has(partitionOf(now + 7 * DAY_MS)), 'today and the days ahead stay')
})

t.test('attack: the migration keeps every row of the unpartitioned table, ids and all, and the sequence goes on', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  const dir = await mkdtemp(join(tmpdir(), 'weapp-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const name of await readdir(MIGRATIONS_DIR)) {
    if (name < '20261206400000') await cp(join(MIGRATIONS_DIR, name), join(dir, name), { recursive: true })
  }
  await migrate(testDb.url, dir)
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query(`INSERT INTO auth_events (created_at, type, outcome, user_id, ip)
    SELECT now() - g * interval '1 hour', 'login', CASE WHEN g % 10 = 0 THEN 'WECHAT_CODE_USED' ELSE 'ok' END, gen_random_uuid(), '198.51.100.' || g % 250
    FROM generate_series(1, 1000) g`)
  const dump = 'SELECT id, created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id FROM auth_events ORDER BY id'
  const before = (await client.query(dump)).rows
  await migrate(testDb.url)
  t.same((await client.query(dump)).rows, before, 'every row, every column')
  const { rows: [kind] } = await client.query("SELECT relkind FROM pg_class WHERE oid = to_regclass('auth_events_log')")
  t.equal(kind?.relkind, 'p', 'the trail is partitioned')
  const { rows: [placed] } = await client.query('SELECT count(*)::int AS n FROM audit_partitions.auth_events_default')
  t.equal(placed.n, 0, 'each row in its day\'s partition, none in the default')
  const { rows: [next] } = await client.query("INSERT INTO auth_events (type, outcome) VALUES ('login', 'ok') RETURNING id")
  t.equal(Number(next.id), Number(before.at(-1).id) + 1, 'new ids continue the old sequence')
})

t.test('soak: a month of days passing, events every day, 5 days kept: partitions and rows level off', async (t) => {
  const { prisma, database } = await build(t)
  let now = Date.now()
  const pruner = new Pruner(database, { ...policy, auditRetentionSeconds: 5 * DAY }, () => now)
  const history: { parts: number, rows: number }[] = []
  for (let day = 0; day < 30; day++) {
    await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${new Date(now)}::timestamptz - g * interval '1 minute', 'login', 'ok' FROM generate_series(1, 10) g`
    await pruner.run()
    const parts = await partitions(prisma)
    history.push({ parts: parts.size, rows: [...parts.values()].reduce((a, b) => a + b, 0) })
    now += DAY_MS
  }
  const late = history.slice(20)
  t.same(new Set(late.map((h) => h.parts)).size, 1, `as many partitions every late day (${late[0]!.parts})`)
  t.ok(late.every((h) => h.parts <= 5 + 1 + 8 + 1), 'at most the kept days, the day the cutoff falls in, today and 7 ahead, and the default')
  t.ok(late.every((h) => h.rows <= 10 * 7), `rows bounded: ${late.map((h) => h.rows).join(' ')}`)
  t.equal(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM audit_partitions.auth_events_default`.then(([r]) => r!.n), 0, 'nothing left in the default')
})

t.test('attack: a row no day can hold (created_at infinity, or past year 9999) in the default partition does not stop retention', async (t) => {
  const { prisma, database } = await build(t)
  const old = midnight(Date.now()) - 200 * DAY_MS
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${new Date(old + 1000)}, 'login', 'ok' FROM generate_series(1, 5)`
  await new Pruner(database, policy, () => old).run()
  t.equal((await partitions(prisma)).get(partitionOf(old)), 5, 'an old day in its partition')
  // A hand-written insert with a typo or a sentinel: the default partition takes it, as documented.
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) VALUES ('infinity', 'login', 'ok'), ('20261-12-06Z', 'login', 'ok')`
  const result = await new Pruner(database, policy).run()
  t.equal(result?.authEvents, 5, 'the pass still drops the expired day')
  const parts = await partitions(prisma)
  t.notOk(parts.has(partitionOf(old)), 'day -200 dropped')
  t.equal(parts.get('auth_events_default'), 2, 'the two rows stay where they are, not lost')
})

t.test('a pass filing the default partition while the writer writes into it loses no event', async (t) => {
  const now = Date.now()
  const lines: string[] = []
  const { createLogger } = await import('../../src/logger.js')
  const { app, prisma, database } = await build(t, { clock: () => now, logger: createLogger('warn', { write: (line: string) => { lines.push(line) } }) })
  // As after a day the writer could not make: its events go to the default partition.
  await prisma.$executeRawUnsafe(`DROP TABLE audit_partitions.${partitionOf(now)}`)
  const written = 20 * 300
  const writes = (async () => {
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 300; i++) app.audit.record({ type: 'login', outcome: 'ok', requestId: `r${round}-${i}` })
      await app.audit.flush()
    }
  })()
  const passes = (async () => {
    for (let pass = 0; pass < 5; pass++) await new Pruner(database, policy, () => now).run()
  })()
  await Promise.all([writes, passes])
  for (let tries = 0; tries < 10; tries++) await app.audit.flush()
  await new Pruner(database, policy, () => now).run()
  const [{ n, distinct }] = await prisma.$queryRaw<[{ n: number, distinct: number }]>`SELECT count(*)::int AS n, count(DISTINCT request_id)::int AS distinct FROM auth_events`
  t.same({ n, distinct }, { n: written, distinct: written }, 'every event once')
  const parts = await partitions(prisma)
  t.equal(parts.get(partitionOf(now)), written, 'all in their day')
  t.equal(parts.get('auth_events_default'), 0, 'the default partition is empty')
  // Usually one batch, routed to the default just as the day was attached, is refused and written again.
  t.comment(`batches refused by the attach and retried: ${lines.filter((l) => l.includes('violates partition constraint')).length}`)
})

t.test('a partition not named by day is left alone, and only a day partition can be dropped', async (t) => {
  const { prisma, database } = await build(t)
  const { dropPartition, listPartitions } = await import('../../src/audit/partitions.js')
  // An admin's archive attached by hand (docs/operations.md, "Audit trail": how a large install migrates), wholly older than the retention.
  await prisma.$executeRawUnsafe('CREATE TABLE audit_partitions.auth_events_archive (LIKE auth_events_log)')
  await prisma.$executeRawUnsafe('ALTER TABLE auth_events_log ATTACH PARTITION audit_partitions.auth_events_archive FOR VALUES FROM (\'2000-01-01Z\') TO (\'2000-02-01Z\')')
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) VALUES ('2000-01-15Z', 'login', 'ok')`
  t.notOk((await listPartitions(prisma)).some((p) => p.name === 'auth_events_archive'), 'not listed as a day')
  await new Pruner(database, policy).run()
  t.equal((await partitions(prisma)).get('auth_events_archive'), 1, 'not dropped by a pass')
  await t.rejects(dropPartition(prisma, { name: 'auth_events_archive', from: new Date(0), to: new Date(0) }), /not an auth_events day partition/)
})

t.test('a day of more than 100,000 events is reported from the planner\'s estimate, not counted whole', async (t) => {
  const { prisma, database } = await build(t)
  const old = midnight(Date.now()) - 200 * DAY_MS
  await new Pruner(database, policy, () => old).run()
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT ${new Date(old + 1000)}, 'login', 'ok' FROM generate_series(1, 120000)`
  await prisma.$executeRawUnsafe(`ANALYZE audit_partitions.${partitionOf(old)}`)
  const result = await new Pruner(database, policy).run()
  t.ok(Math.abs(result!.authEvents - 120_000) < 6000, `about 120,000 (${result!.authEvents})`)
  t.notOk((await partitions(prisma)).has(partitionOf(old)))
})

t.test('a service that cannot create partitions at start still starts, warns, and records every event (the default partition takes them)', async (t) => {
  const testDb = await testDatabase(t)
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  // As if a long report held the default partition past the 5 s lock_timeout: creation fails.
  await client.query('ALTER FUNCTION auth_events_create_partition(date) RENAME TO auth_events_create_partition_away')
  await client.end()
  const lines: string[] = []
  const { createLogger } = await import('../../src/logger.js')
  const later = Date.now() + 30 * DAY_MS
  const { app, fake, prisma } = await build(t, { testDb, clock: () => later, logger: createLogger('warn', { write: (line: string) => { lines.push(line) } }) })
  t.match(lines.join(''), /could not create the partitions ahead/)
  await login(app, fake, 'alice')
  await app.audit.flush()
  t.equal((await partitions(prisma)).get('auth_events_default'), 1, 'the event is in the default partition')
})

t.test('npm run db:prune creates the days ahead too (needs npm run build)', async (t) => {
  const { prisma, testDb } = await build(t)
  const ahead = Array.from({ length: 7 }, (_, i) => partitionOf(Date.now() + (i + 1) * DAY_MS))
  for (const name of ahead) await prisma.$executeRawUnsafe(`DROP TABLE audit_partitions.${name}`)
  t.notOk((await partitions(prisma)).has(ahead[0]!), 'tomorrow is gone')
  const cli = fileURLToPath(new URL('../../dist/cli/prune.js', import.meta.url))
  await promisify(execFile)(process.execPath, [cli], {
    env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: testDb.url, WECHAT_APPID: APP.appid, WECHAT_SECRET: APP.secret, JWT_PRIVATE_KEY: ED25519_PEM, SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS }
  })
  const parts = await partitions(prisma)
  t.same(ahead.filter((name) => !parts.has(name)), [], 'the 7 days after today are back')
})
