import type { PGlite } from '@electric-sql/pglite'

// Why this exists: PGlite is one Postgres session, and pglite-socket (0.2.17)
// serves every client connection on it, scheduling one protocol message at a
// time. It keeps a connection's messages together only while
// `db.isInTransaction()`. An extended-query exchange (Parse ... Sync) is not a
// transaction, so another connection's message can land inside it: a simple
// Query drops the unnamed prepared statement ("unnamed prepared statement does
// not exist", 26000, exec_bind_message), another Parse replaces it and the Bind
// runs someone else's statement. Prisma Studio's postgres.js pool hits this on
// every page load (it sends Parse/Describe/Flush, waits, then Bind/Execute/Sync
// while a parameterless query goes out on a second connection), and it would
// hit the service's own connection too. Upstream: electric-sql/pglite issue
// #1046 and pull request #977, both open; 0.2.17, the newest release, lacks the
// fix. Remove this once pglite-socket keeps a connection's exchange whole.

const SYNC = 0x53 // 'S'
/** Frontend messages that open or continue an extended-query exchange: Parse, Bind, Describe, Execute, Close, Flush. */
const EXTENDED = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48])
const SYNC_MESSAGE = new Uint8Array([SYNC, 0, 0, 0, 4])

/**
 * The same PGlite, as pglite-socket sees it: "in a transaction" also from a
 * connection's first extended-query message until its Sync, so the socket
 * server's transaction affinity keeps that exchange whole.
 */
export function pinExtendedQueries (db: PGlite): PGlite {
  let exchangeOpen = false
  return new Proxy(db, {
    get (target, property) {
      if (property === 'isInTransaction') return () => exchangeOpen || target.isInTransaction()
      if (property === 'execProtocolRawStream') {
        return async (message: Uint8Array, options: Parameters<PGlite['execProtocolRawStream']>[1]) => {
          if (EXTENDED.has(message[0]!)) exchangeOpen = true
          try {
            await target.execProtocolRawStream(message, options)
          } finally {
            if (message[0] === SYNC) exchangeOpen = false
          }
        }
      }
      if (property === 'exec') {
        // pglite-socket calls exec('ROLLBACK') when the connection holding the
        // session goes away; end its half-done exchange first.
        return async (...args: Parameters<PGlite['exec']>) => {
          if (exchangeOpen) {
            exchangeOpen = false
            await target.execProtocolRaw(SYNC_MESSAGE)
          }
          return await target.exec(...args)
        }
      }
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
