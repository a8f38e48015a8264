/**
 * What the tests do when a server they share (PostgreSQL, Redis) does not
 * answer. PostgreSQL has a fallback, the embedded database (one connection,
 * so every race test runs serially and proves little): outside CI it is used
 * with a warning; in CI (`CI=true`) the run must not quietly degrade, so it
 * throws. Redis has no fallback: a test that needs it fails with a message
 * saying where it was looked for.
 */

export interface SharedServer {
  name: 'PostgreSQL' | 'Redis'
  /** The variable that overrides where the tests look for it. */
  variable: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL'
  url: string
  /** Whether the tests can do without it (PostgreSQL: the embedded database). */
  fallback?: string
}

export type Decision = { use: 'server' } | { use: 'fallback', warning: string }

export function inCi (env: Record<string, string | undefined>): boolean {
  const value = env.CI?.toLowerCase()
  return value !== undefined && value !== '' && value !== 'false' && value !== '0'
}

/** Throws when the run must stop; a warning is for the caller to print once. */
export function decideServer (env: Record<string, string | undefined>, server: SharedServer, reachable: boolean): Decision {
  if (reachable) return { use: 'server' }
  const where = `${server.name} is not reachable at ${redacted(server.url)} (set ${server.variable} to where it runs)`
  if (server.fallback === undefined) throw new Error(`${where}; the tests that need it cannot run without it.`)
  if (inCi(env)) throw new Error(`${where}. CI=true: refusing to fall back to ${server.fallback}, which would let the race tests pass without racing.`)
  return { use: 'fallback', warning: `warning: ${where}; falling back to ${server.fallback} (slower, one connection: race tests run serially and prove little).\n` }
}

/** A URL without its password, for messages. */
function redacted (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(an unparsable URL)'
  }
}
