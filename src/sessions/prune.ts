import { pruneBy, type PruneBatch, type PruneStatement } from '../db/prune.js'
import type { PrismaClient } from '../generated/prisma/client.js'

// The owner of `sessions` and `refresh_tokens` prunes them. Each statement
// finds its batch through an index in the order of its predicate (see
// PruneStatement) and deletes it in the same statement.

/**
 * Retired refresh tokens past their expiry: none can be presented any more, not
 * even as reuse (a retired token is kept, and recognised as reuse, until then).
 * A session's live token stays when it expires: it tells when the session went
 * idle, and goes with its session (below). Index: refresh_tokens_retired_expires_at_idx.
 */
export function pruneExpiredRefreshTokens (prisma: PrismaClient, cutoff: () => Date): PruneBatch {
  return pruneBy(prisma, [{
    table: 'refresh_tokens',
    key: 'ctid',
    find: 'SELECT ctid FROM refresh_tokens WHERE retired_at IS NOT NULL AND expires_at < $1::timestamptz ORDER BY expires_at',
    cutoff
  }])
}

export interface EndedSessionPolicy {
  /** Kept this long after nothing can be presented for them any more (SESSION_RETENTION, 0 by default). */
  retentionSeconds: number
  /** REFRESH_TOKEN_TTL: the longest a token issued before a revocation can still be presented. */
  refreshTtlSeconds: number
}

/**
 * Sessions for which nothing can be presented any more, `retentionSeconds`
 * after that moment, with their refresh tokens (ON DELETE CASCADE). Until then
 * a token of theirs is answered with what happened (SESSION_REVOKED,
 * REFRESH_TOKEN_REUSED, REFRESH_TOKEN_EXPIRED); after, it is unknown
 * (REFRESH_TOKEN_INVALID), which no client treats differently. The admin
 * history of a session lives in the audit trail.
 *
 * The moment is the expiry of the session's newest refresh token. Today no
 * column holds it, so three statements bound it, each on its own index:
 * - idle: the live token expired (refresh_tokens_live_expires_at_idx);
 * - past SESSION_MAX_AGE: every token is capped at it (sessions_expires_at_idx);
 * - revoked: its newest token was issued before the revocation, so expires
 *   within REFRESH_TOKEN_TTL of it (sessions_revoked_at_idx).
 * With a column `sessions.refresh_expires_at` (the newest token's expiry, kept
 * by each rotation) and an index on it, the three become one statement:
 *   { table: 'sessions', key: 'ctid', find: 'SELECT ctid FROM sessions WHERE refresh_expires_at < $1::timestamptz ORDER BY refresh_expires_at', cutoff: ended }
 */
export function pruneEndedSessions (prisma: PrismaClient, policy: EndedSessionPolicy, now: () => number): PruneBatch {
  const ended = () => new Date(now() - policy.retentionSeconds * 1000)
  const statements: PruneStatement[] = [
    { table: 'sessions', key: 'id', find: 'SELECT session_id FROM refresh_tokens WHERE retired_at IS NULL AND expires_at < $1::timestamptz ORDER BY expires_at', cutoff: ended },
    { table: 'sessions', key: 'ctid', find: 'SELECT ctid FROM sessions WHERE expires_at < $1::timestamptz ORDER BY expires_at', cutoff: ended },
    {
      table: 'sessions',
      key: 'ctid',
      find: 'SELECT ctid FROM sessions WHERE revoked_at < $1::timestamptz ORDER BY revoked_at',
      cutoff: () => new Date(ended().getTime() - policy.refreshTtlSeconds * 1000)
    }
  ]
  return pruneBy(prisma, statements)
}
