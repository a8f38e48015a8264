import { createHash, randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'

export const MIGRATIONS_DIR = new URL('../../prisma/migrations/', import.meta.url).pathname

// The table exactly as `prisma migrate deploy` creates it, so Prisma's own
// commands can take over a database migrated here.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`

// Any constant works: it only serialises migrators racing on one database.
const ADVISORY_LOCK_ID = 72707369

export interface Migration {
  name: string
  sql: string
  checksum: string
}

export interface MigrateResult {
  applied: string[]
  alreadyApplied: string[]
}

export class MigrationError extends Error {
  override name = 'MigrationError'
}

export async function readMigrations (dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
  return Promise.all(names.map(async (name) => {
    const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8')
    return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
  }))
}

interface AppliedRow {
  migration_name: string
  checksum: string
  finished_at: Date | null
  rolled_back_at: Date | null
}

function checkHistory (migrations: Migration[], rows: AppliedRow[]): Set<string> {
  const done = new Set<string>()
  for (const row of rows) {
    if (row.rolled_back_at !== null) continue
    if (row.finished_at === null) {
      throw new MigrationError(`migration ${row.migration_name} started but did not finish; fix the database by hand, then mark it rolled back (prisma migrate resolve --rolled-back ${row.migration_name})`)
    }
    const local = migrations.find((m) => m.name === row.migration_name)
    if (local === undefined) throw new MigrationError(`migration ${row.migration_name} is applied to the database but missing from ${MIGRATIONS_DIR}`)
    if (local.checksum !== row.checksum) throw new MigrationError(`migration ${row.migration_name} was edited after it was applied (checksum differs); add a new migration instead`)
    done.add(row.migration_name)
  }
  return done
}

async function applyOne (client: pg.Client, migration: Migration): Promise<void> {
  const id = randomUUID()
  await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
    [id, migration.checksum, migration.name])
  try {
    await client.query('BEGIN')
    await client.query(migration.sql)
    await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id])
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK')
    // Same bookkeeping as Prisma: the row stays, unfinished, with the error in logs.
    await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, String(error)])
    throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`)
  }
}

/** Applies pending migrations in order, as `prisma migrate deploy` would, without Prisma's native engine. */
export async function migrate (databaseUrl: string, dir = MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = await readMigrations(dir)
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_ID])
    await client.query(CREATE_MIGRATIONS_TABLE)
    const { rows } = await client.query<AppliedRow>('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at')
    const done = checkHistory(migrations, rows)
    const applied: string[] = []
    for (const migration of migrations) {
      if (done.has(migration.name)) continue
      await applyOne(client, migration)
      applied.push(migration.name)
    }
    return { applied, alreadyApplied: [...done] }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_ID]).catch(() => {})
    await client.end()
  }
}
