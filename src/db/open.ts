import type { Logger } from 'pino'
import type { Config } from '../config/index.js'
import { migrate } from './migrate.js'

export interface ProvisionedDatabase {
  url: string
  poolSize: number
  /** False on the embedded database (one session behind every connection, see database.ts). */
  namedStatements: boolean
  close: () => Promise<void>
}

const CONNECT_ATTEMPTS = 5

export class DatabaseStartError extends Error {
  override name = 'DatabaseStartError'
}

function describeTarget (url: string): string {
  const { hostname, port, pathname } = new URL(url)
  return `${hostname}:${port || '5432'}${pathname}`
}

async function migrateWithRetry (url: string, log: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { applied } = await migrate(url)
      log.info({ applied }, applied.length > 0 ? `applied ${applied.length} migration(s)` : 'database schema is up to date')
      return
    } catch (error) {
      const code = (error as { code?: string }).code
      const unreachable = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT' || code === '57P03'
      if (!unreachable) throw error
      if (attempt === CONNECT_ATTEMPTS) throw new DatabaseStartError(`cannot reach the database at ${describeTarget(url)} (${code}) after ${attempt} attempts; is it running? (see docs/configuration.md, "A real PostgreSQL")`)
      const waitMs = 500 * 2 ** (attempt - 1)
      log.warn({ attempt, waitMs, code }, `database at ${describeTarget(url)} unreachable, retrying`)
      await new Promise((resolve) => setTimeout(resolve, waitMs))
    }
  }
}

/** DATABASE_URL when set, else an embedded Postgres under DATA_DIR (loaded only then); migrated either way. */
export async function provisionDatabase (config: Pick<Config, 'databaseUrl' | 'databasePoolSize' | 'dataDir'>, log: Logger): Promise<ProvisionedDatabase> {
  if (config.databaseUrl !== undefined) {
    log.info(`using the database at ${describeTarget(config.databaseUrl)}`)
    await migrateWithRetry(config.databaseUrl, log)
    return { url: config.databaseUrl, poolSize: config.databasePoolSize, namedStatements: true, close: async () => {} }
  }
  log.warn(`no DATABASE_URL set: starting an embedded Postgres (PGlite), data kept in ${config.dataDir}/pglite; set DATABASE_URL to use a real server`)
  const { startEmbeddedDatabase } = await import('./embedded.js')
  const db = await startEmbeddedDatabase(config.dataDir)
  await migrate(db.url)
  log.info(`embedded database listening at ${describeTarget(db.url)}`)
  // PGlite executes one query at a time; one connection keeps transactions unmixed.
  return { url: db.url, poolSize: 1, namedStatements: false, close: db.stop }
}
