// Prisma error codes that mean "the database cannot be reached", not "the query was wrong".
const PRISMA_CONNECTION_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024'])
// Socket errors, and SQLSTATEs of a connection lost or refused (class 08, admin/crash shutdown, cannot connect now).
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03'])
const CONNECTION_MESSAGES = /connection terminated|timeout exceeded when trying to connect|can't reach database server|connection (?:is )?closed|server closed the connection/i

/** True when an error (or its cause chain) says the database is unreachable. */
export function isConnectionError (error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false
  const { code, message, cause } = error as { code?: unknown, message?: unknown, cause?: unknown }
  if (typeof code === 'string' && (PRISMA_CONNECTION_CODES.has(code) || SOCKET_CODES.has(code))) return true
  const state = sqlState(error)
  if (state !== undefined && SOCKET_CODES.has(state)) return true
  if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true
  const kind = (cause as { kind?: unknown } | undefined)?.kind
  if (kind === 'DatabaseNotReachable' || kind === 'ConnectionClosed' || kind === 'SocketTimeout') return true
  return isConnectionError(cause, depth + 1)
}

/**
 * The SQLSTATE of a failed statement: pg's error carries it as `code`, Prisma
 * reports a raw query's database error with the driver's cause in meta.
 */
export function sqlState (error: unknown): string | undefined {
  const { code, meta } = error as { code?: unknown, meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } }
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('P')) return code
  return meta?.driverAdapterError?.cause?.originalCode
}

/** A unique constraint refused the write (Prisma's model API reports it as P2002). */
export function isUniqueViolation (error: unknown): boolean {
  return sqlState(error) === UNIQUE_VIOLATION || (error as { code?: unknown }).code === 'P2002'
}

export const FOREIGN_KEY_VIOLATION = '23503'
export const UNIQUE_VIOLATION = '23505'

/** A deadlock or a serialization failure: the transaction may simply be run again. */
export function isTransient (error: unknown): boolean {
  const state = sqlState(error) ?? (error as { meta?: { code?: string } }).meta?.code
  return state === '40P01' || state === '40001' || (error as { code?: unknown }).code === 'P2034'
}
