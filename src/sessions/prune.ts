import { pruneBy, type PruneBatch } from '../db/prune.js'
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

/**
 * Sessions for which nothing can be presented any more, `cutoff` after that
 * moment (SESSION_RETENTION, 0 by default), with their refresh tokens of the
 * previous scheme (ON DELETE CASCADE). The moment is the expiry of the
 * session's newest refresh token, which each rotation keeps on the row
 * (refresh_expires_at, never after the session's end; an earlier token expired
 * before it). Until then a token of theirs is answered with what happened
 * (SESSION_REVOKED, REFRESH_TOKEN_REUSED, REFRESH_TOKEN_EXPIRED); after, it is
 * unknown (REFRESH_TOKEN_INVALID), which no client treats differently. The
 * admin history of a session lives in the audit trail. Index:
 * sessions_refresh_expires_at_idx; revoked, expired and idle sessions alike.
 */
export function pruneEndedSessions (prisma: PrismaClient, cutoff: () => Date): PruneBatch {
  return pruneBy(prisma, [{
    table: 'sessions',
    key: 'ctid',
    find: 'SELECT ctid FROM sessions WHERE refresh_expires_at < $1::timestamptz ORDER BY refresh_expires_at',
    cutoff
  }])
}
