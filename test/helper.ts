import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Test } from 'tap'
import { buildApp } from '../src/app.js'
import { parseConfig, type Config } from '../src/config.js'
import { startEmbeddedDatabase } from '../src/db/embedded.js'
import { migrate } from '../src/db/migrate.js'
import { createPrisma, type Db } from '../src/db/prisma.js'
import { createLogger } from '../src/logger.js'

/** The server every test file shares; each file gets a database of its own on it. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

let serverReachable: Promise<boolean> | undefined
function realPostgresReachable (): Promise<boolean> {
  serverReachable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 })
    try {
      await client.connect()
      await client.end()
      return true
    } catch {
      return false
    }
  })()
  return serverReachable
}

export function withDatabase (url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

async function adminQuery (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

export interface TestDatabase {
  url: string
  embedded: boolean
}

/**
 * A fresh, empty database for this test (migrated unless `migrated: false`),
 * dropped when the test ends. Falls back to an embedded Postgres when the
 * local server is not reachable.
 */
export async function testDatabase (t: Test, { migrated = true } = {}): Promise<TestDatabase> {
  let url: string
  let embedded = false
  if (await realPostgresReachable()) {
    const name = `weapp_test_${process.pid}_${randomBytes(4).toString('hex')}`
    await adminQuery(`CREATE DATABASE "${name}"`)
    t.teardown(() => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
    url = withDatabase(ADMIN_URL, name)
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'weapp-auth-test-'))
    const db = await startEmbeddedDatabase(dir)
    t.teardown(async () => { await db.stop(); await rm(dir, { recursive: true, force: true }) })
    url = db.url
    embedded = true
  }
  if (migrated) await migrate(url)
  return { url, embedded }
}

export function testConfig (databaseUrl: string, env: Record<string, string> = {}): Config {
  return parseConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', DATABASE_URL: databaseUrl, ...env })
}

export interface Built {
  app: Awaited<ReturnType<typeof buildApp>>
  prisma: Db
  config: Config
  db: TestDatabase
}

/** The app on a fresh database, closed (with its pool) when the test ends. */
export async function build (t: Test, env: Record<string, string> = {}): Promise<Built> {
  const db = await testDatabase(t)
  const config = testConfig(db.url, env)
  const prisma = createPrisma({ url: db.url, poolSize: db.embedded ? 1 : 5 })
  const app = await buildApp(config, { prisma, logger: createLogger('silent') })
  // tap runs teardowns last-in first-out: the app closes before its database is dropped.
  t.teardown(() => app.close())
  await app.ready()
  return { app, prisma, config, db }
}
