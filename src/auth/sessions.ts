import { Prisma } from '../generated/prisma/client.js'
import type { Db } from '../db/prisma.js'
import { RefreshTokenExpired, RefreshTokenInvalid, RefreshTokenReused, SessionExpired, SessionRevoked } from './errors.js'
import { hashRefreshToken, isRefreshTokenShape, newRefreshToken, openSuccessor, sealSuccessor, type RefreshSecret } from './refresh-token.js'

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

/** What every read of a session selects (from `sessions s`) to tell a live session from an ended one. */
export interface SessionState {
  session_revoked: boolean
  session_expired: boolean
}

export const SESSION_STATE = Prisma.sql`s.revoked_at IS NOT NULL AS session_revoked, s.expires_at <= now() AS session_expired`

/** The one rule of a live session: not revoked, not past SESSION_MAX_AGE. Throws the 401 a client acts on. */
export function assertLive (state: SessionState | undefined): void {
  if (state === undefined || state.session_revoked) throw new SessionRevoked()
  if (state.session_expired) throw new SessionExpired()
}

interface RotatedRow {
  session_id: string
  user_id: string
  appid: string
  expires_at: Date
}

interface TokenStateRow extends SessionState {
  session_id: string
  user_id: string
  appid: string
  retired: boolean
  in_grace: boolean
  token_expired: boolean
  successor_enc: string | null
  live_hash: Buffer | null
  live_expires_at: Date | null
}

/** When a new refresh token expires: REFRESH_TOKEN_TTL from now, never after its session. */
export function refreshExpiry (policy: SessionPolicy, sessionExpiresAt: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`LEAST(now() + make_interval(secs => ${policy.refreshTtlSeconds}::int), ${sessionExpiresAt})`
}

/**
 * Sessions (one per login) and their refresh tokens. A session is one chain:
 * at most one live token at a time (a partial unique index holds it), and every
 * write is one statement.
 */
export class SessionStore {
  constructor (private readonly db: Db, private readonly policy: SessionPolicy) {}

  /**
   * Retires the presented token and issues its successor in one statement; the
   * row lock makes concurrent uses of one token see it retired. The retired row
   * keeps the successor sealed under a key derived from the presented token, so
   * a use again within the grace window gets that same successor: one chain.
   */
  async rotate (token: string): Promise<SessionGrant> {
    if (!isRefreshTokenShape(token)) throw new RefreshTokenInvalid()
    const presented: RefreshSecret = { token, hash: hashRefreshToken(token) }
    const next = newRefreshToken()
    const rotated = await this.db.$queryRaw<RotatedRow[]>`
      WITH old AS (
        UPDATE refresh_tokens rt SET retired_at = now(), successor_enc = ${sealSuccessor(presented, next.token)}, updated_at = now()
        FROM sessions s
        WHERE rt.token_hash = ${presented.hash} AND rt.retired_at IS NULL AND rt.expires_at > now()
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
    return this.rotateRetired(presented)
  }

  private async rotateRetired (presented: RefreshSecret): Promise<SessionGrant> {
    const [state] = await this.db.$queryRaw<TokenStateRow[]>`
      SELECT rt.session_id::text, s.user_id::text, s.appid, ${SESSION_STATE},
             rt.retired_at IS NOT NULL AS retired,
             rt.retired_at > now() - make_interval(secs => ${this.policy.reuseGraceSeconds}::int) AS in_grace,
             rt.expires_at <= now() AS token_expired,
             rt.successor_enc, live.token_hash AS live_hash, live.expires_at AS live_expires_at
      FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
      LEFT JOIN refresh_tokens live ON live.session_id = rt.session_id AND live.retired_at IS NULL
      WHERE rt.token_hash = ${presented.hash}`
    if (state === undefined) throw new RefreshTokenInvalid()
    assertLive(state)
    if (!state.retired) {
      if (state.token_expired) throw new RefreshTokenExpired()
      // Neither retired nor expired, yet the update missed it: the session changed under us.
      throw new RefreshTokenInvalid()
    }
    if (state.in_grace) {
      const successor = this.liveSuccessor(presented, state)
      if (successor !== undefined) return { sessionId: state.session_id, userId: state.user_id, appid: state.appid, refreshToken: successor, refreshExpiresAt: state.live_expires_at! }
    }
    // After the grace window, or a token whose successor was itself rotated: one of two holders is a thief.
    await this.db.$executeRaw`UPDATE sessions SET revoked_at = now(), revoked_reason = 'refresh_reuse', updated_at = now() WHERE id = ${state.session_id}::uuid AND revoked_at IS NULL`
    throw new RefreshTokenReused()
  }

  /** The successor sealed in the retired row, if it is still the session's live token. */
  private liveSuccessor (presented: RefreshSecret, state: TokenStateRow): string | undefined {
    if (state.successor_enc === null || state.live_hash === null) return undefined
    const successor = openSuccessor(presented, state.successor_enc)
    return successor !== undefined && hashRefreshToken(successor).equals(state.live_hash) ? successor : undefined
  }

  /** The user who owns a live session now; a 401 for an ended one. */
  async live (sessionId: string): Promise<{ userId: string }> {
    const [row] = await this.db.$queryRaw<(SessionState & { user_id: string })[]>`
      SELECT s.user_id::text, ${SESSION_STATE} FROM sessions s WHERE s.id = ${sessionId}::uuid`
    assertLive(row)
    return { userId: row!.user_id }
  }

  /** Ends the session of a signed `sid`; a session that had already ended is a 401, not a silent success. */
  async end (sessionId: string, reason: string): Promise<void> {
    const [row] = await this.db.$queryRaw<(SessionState & { ended: boolean })[]>`
      WITH ended AS (
        UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}, updated_at = now()
        WHERE id = ${sessionId}::uuid AND revoked_at IS NULL AND expires_at > now()
        RETURNING id
      )
      SELECT EXISTS (SELECT 1 FROM ended) AS ended, ${SESSION_STATE} FROM sessions s WHERE s.id = ${sessionId}::uuid`
    if (row?.ended !== true) assertLive(row)
  }

  /**
   * Ends every session of the user who owns the live session `sid` now (a
   * unionid move may have changed owners since the token was signed). An ended
   * session's token ends nothing.
   */
  async endAllOf (sessionId: string, reason: string): Promise<number> {
    const [row] = await this.db.$queryRaw<(SessionState & { ended: number })[]>`
      WITH me AS (
        SELECT user_id FROM sessions WHERE id = ${sessionId}::uuid AND revoked_at IS NULL AND expires_at > now()
      ), ended AS (
        UPDATE sessions SET revoked_at = now(), revoked_reason = ${reason}, updated_at = now()
        WHERE user_id = (SELECT user_id FROM me) AND revoked_at IS NULL
        RETURNING id
      )
      SELECT (SELECT count(*) FROM ended)::int AS ended, ${SESSION_STATE} FROM sessions s WHERE s.id = ${sessionId}::uuid`
    if (row === undefined || row.ended === 0) assertLive(row)
    return row!.ended
  }

  private grant (row: RotatedRow, refreshToken: string): SessionGrant {
    return { sessionId: row.session_id, userId: row.user_id, appid: row.appid, refreshToken, refreshExpiresAt: row.expires_at }
  }
}
