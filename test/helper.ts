import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import pg from 'pg'
import type { Test } from 'tap'
import { buildApp } from '../src/app.js'
import { parseConfig, runtimeConfig, type RuntimeConfig } from '../src/config/index.js'
import { startEmbeddedDatabase } from '../src/db/embedded.js'
import { migrate } from '../src/db/migrate.js'
import { openDatabase, type Database } from '../src/db/database.js'
import type { PrismaClient } from '../src/generated/prisma/client.js'
import { FakeWechat, type FakeApp } from '../src/dev/fake-wechat.js'
import { createLogger } from '../src/logger.js'
import { platformAppsEnv, startPlatformFakes, type PlatformFakes } from './helpers/platforms.js'
import { decideServer } from './helpers/services.js'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

let redisReachable: Promise<boolean> | undefined
/** Whether TEST_REDIS_URL answers a PING (asked once per test file). */
function realRedisReachable (): Promise<boolean> {
  redisReachable ??= (async () => {
    const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      return await probe.ping() === 'PONG'
    } catch {
      return false
    } finally {
      probe.disconnect()
    }
  })()
  return redisReachable
}

/** A Redis client and a key prefix of this test's own; its keys are deleted when the test ends. */
export async function redisNamespace (t: Test): Promise<{ redis: Redis, prefix: string }> {
  // Throws, naming TEST_REDIS_URL, when Redis does not answer: there is nothing to fall back to.
  decideServer(process.env, { name: 'Redis', variable: 'TEST_REDIS_URL', url: REDIS_URL }, await realRedisReachable())
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  const prefix = `weapp-auth-test:${randomBytes(6).toString('hex')}:`
  t.teardown(async () => {
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })
  return { redis, prefix }
}

/** The server every test file shares; each file gets a database of its own on it. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

let serverReachable: Promise<boolean> | undefined
/**
 * Whether the shared PostgreSQL answers (asked once per test file). When it
 * does not: under CI=true this throws, naming TEST_DATABASE_URL; elsewhere one
 * warning on stderr, and the tests use the embedded database.
 */
function realPostgresReachable (): Promise<boolean> {
  serverReachable ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 })
    let reachable = true
    try {
      await client.connect()
      await client.end()
    } catch {
      reachable = false
    }
    const decision = decideServer(process.env, { name: 'PostgreSQL', variable: 'TEST_DATABASE_URL', url: ADMIN_URL, fallback: 'the embedded database (PGlite)' }, reachable)
    if (decision.use === 'fallback') process.stderr.write(decision.warning)
    return decision.use === 'server'
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
 * local server is not reachable, except under CI=true (see helpers/services.ts).
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
    const embeddedServer = await startEmbeddedDatabase(dir)
    t.teardown(async () => { await embeddedServer.stop(); await rm(dir, { recursive: true, force: true }) })
    url = embeddedServer.url
    embedded = true
  }
  if (migrated) await migrate(url)
  return { url, embedded }
}

export const APP = { appid: 'wxtest0000000001', secret: 'test-secret-0001' }
export const ED25519_PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
export const VAULT_KEYS = `k1:${randomBytes(32).toString('base64')}`

/** A complete test configuration: real keys, one app, WeChat at `apiBase`. */
export function testConfig (databaseUrl: string, env: Record<string, string> = {}, apiBase = 'http://127.0.0.1:1'): RuntimeConfig {
  return runtimeConfig(parseConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    WECHAT_APPID: APP.appid,
    WECHAT_SECRET: APP.secret,
    WECHAT_API_BASE: apiBase,
    WECHAT_TIMEOUT_MS: '1000',
    JWT_PRIVATE_KEY: ED25519_PEM,
    SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS,
    // Generous limits, so tests about other things never trip them; rate-limit tests set their own.
    RATE_LIMIT_GLOBAL_MAX: '100000',
    RATE_LIMIT_AUTH_MAX: '100000',
    RATE_LIMIT_USER_MAX: '100000',
    ...env
  }))
}

export async function startFakeWechat (t: Test, apps: FakeApp[] = [APP]): Promise<FakeWechat> {
  const fake = new FakeWechat(apps)
  await fake.listen()
  t.teardown(() => fake.close())
  return fake
}

export interface Built {
  app: Awaited<ReturnType<typeof buildApp>>
  database: Database
  /** Prisma Client on the app's pool, for tests' fixtures and assertions. */
  prisma: PrismaClient
  config: RuntimeConfig
  testDb: TestDatabase
  fake: FakeWechat
  /** Every other platform's fake, serving the apps of PLATFORM_APPS (test/helpers/platforms.ts). */
  platforms: PlatformFakes
}

export interface BuildOptions {
  env?: Record<string, string>
  logger?: ReturnType<typeof createLogger>
  apps?: FakeApp[]
  testDb?: TestDatabase
  fake?: FakeWechat
  /** The other platforms' fakes, shared with another build(); started afresh when absent. */
  platforms?: PlatformFakes
  /** The service's clock (ms since the epoch), for windows a test must not wait out. */
  clock?: () => number
}

/**
 * The app on a fresh database with a fake WeChat serving APP (and `apps`), and
 * a fake of every other platform serving one app each through APPS (an `APPS`
 * in `env` replaces those); all closed when the test ends.
 */
export async function build (
  t: Test, { env = {}, apps, testDb: shared, fake: sharedFake, platforms: sharedPlatforms, logger, clock }: BuildOptions = {}
): Promise<Built> {
  const fake = sharedFake ?? await startFakeWechat(t, apps)
  const platforms = sharedPlatforms ?? await startPlatformFakes(t)
  const testDb = shared ?? await testDatabase(t)
  const config = testConfig(testDb.url, { APPS: platformAppsEnv(platforms), ...env }, fake.url)
  const database = openDatabase({ url: testDb.url, poolSize: testDb.embedded ? 1 : 5, namedStatements: !testDb.embedded })
  const app = await buildApp(config, { db: database, logger: logger ?? createLogger('silent'), ...(clock !== undefined ? { clock } : {}) })
  // tap runs teardowns last-in first-out: the app closes (and its pool) before its database is dropped.
  t.teardown(() => app.close())
  await app.ready()
  return { app, database, prisma: database.prisma, config, testDb, fake, platforms }
}
