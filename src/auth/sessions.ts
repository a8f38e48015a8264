import { Prisma } from '../generated/prisma/client.js'
import type { Db } from '../db/prisma.js'
import { RefreshTokenExpired, RefreshTokenInvalid, RefreshTokenReused, SessionExpired, SessionRevoked } from './errors.js'
import { hashRefreshToken, isRefreshTokenShape, newRefreshToken } from './refresh-token.js'

export interface SessionPolicy {
  refreshTtlSeconds: number
  sessionMaxAgeSeconds: number
  reuseGraceSeconds: number
}

export interface SessionGrant {
  sessionId: string
  userId: string
  appid: string
  refreshToken: string
  refreshExpiresAt: Date
}

interface RotatedRow {
  session_id: string
  user_id: string
  appid: string
  expires_at: Date
}

interface TokenStateRow {
  session_id: string
  user_id: string
  appid: string
  retired: boolean
  in_grace: boolean
  token_expired: boolean
  session_revoked: boolean
  session_expired: boolean
}

/** When a new refresh token expires: REFRESH_TOKEN_TTL from now, never after its session. */
export function refreshExpiry (policy: SessionPolicy, sessionExpiresAt: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`LEAST(now() + make_interval(secs => ${policy.refreshTtlSeconds}::int), ${sessionExpiresAt})`
}

/** Sessions (one per login) and their rotating refresh tokens. Every write is one statement. */
export class SessionStore {
  constructor (private readonly db: Db, private readonly policy: SessionPolicy) {}

  /**
   * Retires the presented token and issues its successor in one statement; the
   * row lock makes concurrent uses of one token see it retired. A retired token
   * within the grace window gets a fresh token for the same session; after it,
   * the session is revoked as stolen.
   */
  async rotate (presented: string): Promise<SessionGrant> {
    if (!isRefreshTokenShape(presented)) throw new RefreshTokenInvalid()
    const hash = hashRefreshToken(presented)
    const next = newRefreshToken()
    const rotated = await this.db.$queryRaw<RotatedRow[]>`
      WITH old AS (
        UPDATE refresh_tokens rt SET retired_at = now(), updated_at = now()
        FROM sessions s
        WHERE rt.token_hash = ${hash} AND rt.retired_at IS NULL AND rt.expires_at > now()
          AND s.id = rt.session_id AND s.revoked_at IS NULL AND s.expires_at > now()
        RETURNING rt.session_id, s.user_id, s.appid, s.expires_at AS session_expires_at
      ), fresh AS (
        INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
        SELECT session_id, ${next.hash}, ${refreshExpiry(this.policy, Prisma.raw('session_expires_at'))} FROM old
        RETURNING expires_at
      )
      SELECT old.session_id::text, old.user_id::text, old.appid, fresh.expires_at FROM old, fresh`
    const row = rotated[0]
    if (row !== undefined) return this.grant(row, next.token)
    return this.rotateRetired(hash)
  }

  private async rotateRetired (hash: Buffer): Promise<SessionGrant> {
    const [state] = await this.db.$queryRaw<TokenStateRow[]>`
      SELECT rt.session_id::text, s.user_id::text, s.appid,
             rt.retired_at IS NOT NULL AS retired,
             rt.retired_at > now() - make_interval(secs => ${this.policy.reuseGraceSeconds}::int) AS in_grace,
             rt.expires_at <= now() AS token_expired,
             s.revoked_at IS NOT NULL AS session_revoked,
             s.expires_at <= now() AS session_expired
      FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
      WHERE rt.token_hash = ${hash}`
    if (state === undefined) throw new RefreshTokenInvalid()
    if (state.session_revoked) throw new SessionRevoked()
    if (state.session_expired) throw new SessionExpired()
    if (!state.retired && state.token_expired) throw new RefreshTokenExpired()
    if (state.retired && state.in_grace) return this.issueWithinGrace(state)
    if (state.retired) {
      await this.revoke(state.session_id, 'refresh_reuse')
      throw new RefreshTokenReused()
    }
    // Neither retired nor expired, yet the update missed it: the session changed under us.
    throw new RefreshTokenInvalid()
  }

  /** A client's concurrent refreshes: another token for the same session, if it is still live. */
  private async issueWithinGrace (state: TokenStateRow): Promise<SessionGrant> {
    const next = newRefreshToken()
    const rows = await this.db.$queryRaw<RotatedRow[]>`
      INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
      SELECT s.id, ${next.hash}, ${refreshExpiry(this.policy, Prisma.raw('s.expires_at'))}
      FROM sessions s WHERE s.id = ${state.session_id}::uuid AND s.revoked_at IS NULL AND s.expires_at > now()
      RETURNING session_id::text, ${state.user_id} AS user_id, ${state.appid} AS appid, expires_at`
    if (rows[0] === undefined) throw new SessionRevoked()
    return this.grant(rows[0], next.token)
  }

  /** Ends one session; with `userId`, only if it is that user's. */
  async revoke (sessionId: string, reason: string, userId?: string): Promise<boolean> {
    const count = await this.db.$executeRaw`
      UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}, updated_at = now()
      WHERE id = ${sessionId}::uuid AND (${userId ?? null}::uuid IS NULL OR user_id = ${userId ?? null}::uuid) AND revoked_at IS NULL`
    return count > 0
  }

  async revokeAll (userId: string, reason: string): Promise<number> {
    return this.db.$executeRaw`UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}, updated_at = now() WHERE user_id = ${userId}::uuid AND revoked_at IS NULL`
  }

  private grant (row: RotatedRow, refreshToken: string): SessionGrant {
    return { sessionId: row.session_id, userId: row.user_id, appid: row.appid, refreshToken, refreshExpiresAt: row.expires_at }
  }
}
