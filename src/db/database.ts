import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.js'
import { runStatement, type Statement } from './statements.js'

/**
 * One pool of connections, two ways in: Prisma Client (the model API, for
 * everything off the request path) and named prepared statements (the few
 * statements on the request path, see statements.ts), both on the same
 * `pg` pool beneath Prisma's adapter.
 */
export interface Database {
  prisma: PrismaClient
  /** Runs a named prepared statement and returns its rows. */
  run: <Row>(statement: Statement<Row>, values: unknown[]) => Promise<Row[]>
  /** `SELECT 1` straight on the pool: is the database there? */
  ping: () => Promise<void>
  /**
   * Runs `work` holding a session advisory lock, or returns undefined at once when another connection holds it.
   * `held()` turns false when the lock's connection is lost (the server then frees the lock): long work checks it.
   */
  withAdvisoryLock: <T>(id: number, work: (held: () => boolean) => Promise<T>) => Promise<T | undefined>
  /** Connections busy, and requests waiting for one. */
  poolStats: () => { inUse: number, waiting: number }
  close: () => Promise<void>
}

export interface DatabaseOptions {
  url: string
  poolSize: number
  /**
   * False for the embedded database: PGlite is one Postgres session behind
   * every connection, so a statement prepared by a connection outlives it, and
   * the next connection preparing the same name would fail (42P05). Statements
   * then go unnamed.
   */
  namedStatements?: boolean
}

export function openDatabase ({ url, poolSize, namedStatements = true }: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // Bounded waits: a lost database turns into a 503, not a hung request.
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000
  })
  // An idle connection the server drops must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  return {
    prisma,
    run: (statement, values) => runStatement(pool, statement, values, namedStatements),
    ping: async () => { await pool.query('SELECT 1') },
    // The lock lives on a connection of its own, outside the pool: `work` queries
    // through the pool, and with a pool of one (the embedded database,
    // DATABASE_POOL_SIZE=1) a pooled lock connection would leave it none.
    withAdvisoryLock: async (id, work) => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
      let lost = false
      client.on('error', () => { lost = true })
      client.on('end', () => { lost = true })
      await client.connect()
      try {
        const { rows: [row] } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [id])
        if (row?.locked !== true) return undefined
        try {
          return await work(() => !lost)
        } finally {
          if (!lost) await client.query('SELECT pg_advisory_unlock($1)', [id])
        }
      } finally {
        await client.end()
      }
    },
    poolStats: () => ({ inUse: pool.totalCount - pool.idleCount, waiting: pool.waitingCount }),
    close: async () => {
      await prisma.$disconnect()
      await pool.end()
    }
  }
}
