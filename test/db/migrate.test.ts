import { createHash } from 'node:crypto'
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js'
import { testDatabase } from '../helper.js'

async function rows (url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { return (await client.query(sql)).rows } finally { await client.end() }
}

async function copyMigrations (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(MIGRATIONS_DIR, dir, { recursive: true })
  return dir
}

t.test('applies every migration and records it as prisma migrate deploy does', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  const result = await migrate(testDb.url)
  const local = await readMigrations()
  t.same(result.applied, local.map((m) => m.name))
  const recorded = await rows(testDb.url, 'SELECT migration_name, checksum, finished_at, applied_steps_count, rolled_back_at, logs FROM "_prisma_migrations" ORDER BY migration_name')
  t.equal(recorded.length, local.length)
  for (const [i, m] of local.entries()) {
    const file = await readFile(join(MIGRATIONS_DIR, m.name, 'migration.sql'))
    t.equal(recorded[i]!.checksum, createHash('sha256').update(file).digest('hex'), 'checksum is SHA-256 hex of the file')
    t.ok(recorded[i]!.finished_at instanceof Date)
    t.equal(recorded[i]!.applied_steps_count, 1)
    t.equal(recorded[i]!.rolled_back_at, null)
  }
  const tables = await rows(testDb.url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
  t.same(tables.map((r) => r.table_name), ['_prisma_migrations', 'auth_events', 'auth_events_log', 'identities', 'refresh_tokens', 'sessions', 'users'])
})

t.test('a second run applies nothing', async (t) => {
  const testDb = await testDatabase(t)
  const result = await migrate(testDb.url)
  t.same(result.applied, [])
  t.equal(result.alreadyApplied.length, (await readMigrations()).length)
})

t.test('concurrent migrators serialise on a lock and apply each migration once', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  const results = await Promise.all([migrate(testDb.url), migrate(testDb.url), migrate(testDb.url)])
  t.equal(results.flatMap((r) => r.applied).length, (await readMigrations()).length)
  const [{ count }] = await rows(testDb.url, 'SELECT count(*)::int AS count FROM "_prisma_migrations"') as [{ count: number }]
  t.equal(count, (await readMigrations()).length)
})

t.test('a migration edited after it was applied is refused', async (t) => {
  const testDb = await testDatabase(t)
  const dir = await copyMigrations(t)
  const [first] = await readMigrations(dir)
  await writeFile(join(dir, first!.name, 'migration.sql'), `${first!.sql}\n-- edited\n`)
  await t.rejects(migrate(testDb.url, dir), { name: 'MigrationError', message: /was edited after it was applied/ })
})

t.test('a failing migration is rolled back and left marked unfinished with its error', async (t) => {
  const testDb = await testDatabase(t)
  const dir = await copyMigrations(t)
  await mkdir(join(dir, '29990101000000_broken'))
  await writeFile(join(dir, '29990101000000_broken', 'migration.sql'), 'CREATE TABLE "half" (id int);\nSELECT no_such_function();\n')
  await t.rejects(migrate(testDb.url, dir), { name: 'MigrationError', message: /29990101000000_broken failed/ })
  const [row] = await rows(testDb.url, "SELECT finished_at, logs FROM \"_prisma_migrations\" WHERE migration_name = '29990101000000_broken'")
  t.equal(row!.finished_at, null)
  t.match(row!.logs, /no_such_function/)
  t.same(await rows(testDb.url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'half'"), [], 'its statements were rolled back')
  await t.rejects(migrate(testDb.url, dir), { message: /started but did not finish/ }, 'later runs refuse until it is resolved')
})
