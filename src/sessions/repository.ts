import { randomUUID } from 'node:crypto'
import type { Database } from '../db/database.js'
import type { Prisma } from '../generated/prisma/client.js'
import { statement } from '../db/statements.js'
import { RefreshTokenExpired, RefreshTokenInvalid, RefreshTokenReused, SessionExpired, SessionRevoked, UserDisabled } from './errors.js'
import { hashRefreshToken, isRefreshTokenShape, newRefreshToken, openSuccessor, sealSuccessor, type RefreshSecret } from './refresh-token.js'

// The owner of `sessions` and `refresh_tokens`. A session is one login and one
// chain of refresh tokens: at most one live token at a time (a partial unique
// index holds it), and every write is one statement.

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
export const SESSION_STATE = `s.revoked_at IS NOT NULL AS session_revoked, s.expires_at <= now() AS session_expired,
  EXISTS (SELECT 1 FROM users du WHERE du.id = s.user_id AND du.disabled_at IS NOT NULL) AS user_disabled`
export const SESSION_STATE_COLUMNS = { session_revoked: 'boolean', session_expired: 'boolean', user_disabled: 'boolean' } as const

export interface SessionState {
  session_revoked: boolean
  session_expired: boolean
  user_disabled: boolean
}

/**
 * The one rule of a live session: its user is not banned (403), it is not
 * revoked, not past SESSION_MAX_AGE (401s a client acts on).
 */
export function assertLive (state: SessionState | undefined): void {
  if (state === undefined) throw new SessionRevoked()
  if (state.user_disabled) throw new UserDisabled()
  if (state.session_revoked) throw new SessionRevoked()
  if (state.session_expired) throw new SessionExpired()
}

/** Who an error was about, for the audit trail; and the session it ended, when it ended one. */
export interface Subject { userId?: string, sessionId?: string, appid?: string }
const about = <E extends Error>(error: E, subject: Subject, revoked?: string): E => Object.assign(error, { subject, ...(revoked !== undefined ? { revoked } : {}) })

/** A new refresh token expires REFRESH_TOKEN_TTL from now, never after its session. */
const refreshExpiry = (ttlParam: number, sessionExpiresAt: string): string =>
  `LEAST(now() + make_interval(secs => $${ttlParam}::int), ${sessionExpiresAt})`

/** Positions of the parameters `openSessionSql` reads, in the statement that embeds it. */
export interface OpenSessionParams { sessionId: number, appid: number, maxAge: number, tokenHash: number, refreshTtl: number }

/**
 * The CTEs that open a session and its first refresh token for the identity a
 * preceding CTE `i` (columns id, user_id) wrote: a login is one statement.
 * They end in CTE `t` with the token's expires_at.
 */
export function openSessionSql (p: OpenSessionParams): string {
  return `
    s AS (
      INSERT INTO sessions (id, user_id, identity_id, appid, expires_at)
      SELECT $${p.sessionId}::uuid, i.user_id, i.id, $${p.appid}, now() + make_interval(secs => $${p.maxAge}::int) FROM i
      RETURNING id, expires_at
    ), t AS (
      INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
      SELECT s.id, $${p.tokenHash}, ${refreshExpiry(p.refreshTtl, 's.expires_at')} FROM s
      RETURNING expires_at
    )`
}

/**
 * The session row is share-locked before the token is retired: a logout (which
 * updates that row) and a rotation of the same session are thereby ordered, so
 * no refresh succeeds once a logout has committed, nor while one is under way.
 */
const rotate = statement('sessions_rotate', { session_id: 'string', user_id: 'string', appid: 'string', expires_at: 'date' }, `
  WITH s AS (
    SELECT s.id, s.user_id, s.appid, s.expires_at FROM sessions s
    WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) AND s.revoked_at IS NULL AND s.expires_at > now()
      AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL)
    FOR SHARE OF s
  ), old AS (
    UPDATE refresh_tokens rt SET retired_at = now(), successor_enc = $2, updated_at = now()
    FROM s
    WHERE rt.token_hash = $1 AND rt.session_id = s.id AND rt.retired_at IS NULL AND rt.expires_at > now()
    RETURNING rt.session_id, s.user_id, s.appid, s.expires_at AS session_expires_at
  ), fresh AS (
    INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
    SELECT session_id, $3, ${refreshExpiry(4, 'session_expires_at')} FROM old
    RETURNING expires_at
  )
  SELECT old.session_id::text, old.user_id::text, old.appid, fresh.expires_at FROM old, fresh`)

const tokenState = statement('sessions_token_state', {
  session_id: 'string',
  user_id: 'string',
  appid: 'string',
  ...SESSION_STATE_COLUMNS,
  retired: 'boolean',
  in_grace: 'boolean?',
  token_expired: 'boolean',
  successor_enc: 'string?',
  live_hash: 'bytes?',
  live_expires_at: 'date?'
}, `
  SELECT rt.session_id::text, s.user_id::text, s.appid, ${SESSION_STATE},
         rt.retired_at IS NOT NULL AS retired,
         rt.retired_at > now() - make_interval(secs => $2::int) AS in_grace,
         rt.expires_at <= now() AS token_expired,
         rt.successor_enc, live.token_hash AS live_hash, live.expires_at AS live_expires_at
  FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
  LEFT JOIN refresh_tokens live ON live.session_id = rt.session_id AND live.retired_at IS NULL
  WHERE rt.token_hash = $1`)

/** Ending a session also retires its live refresh token: an ended session holds no live token. */
const retireLive = (ended: string): string => `
  retired AS (
    UPDATE refresh_tokens SET retired_at = now(), updated_at = now()
    WHERE session_id IN (SELECT id FROM ${ended}) AND retired_at IS NULL
    RETURNING 1
  )`

const revoke = statement('sessions_revoke', {}, `
  WITH ended AS (
    UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now() WHERE id = $1::uuid AND revoked_at IS NULL
    RETURNING id
  )
  UPDATE refresh_tokens SET retired_at = now(), updated_at = now() WHERE session_id IN (SELECT id FROM ended) AND retired_at IS NULL`)

const live = statement('sessions_live', { user_id: 'string', ...SESSION_STATE_COLUMNS }, `
  SELECT s.user_id::text, ${SESSION_STATE} FROM sessions s WHERE s.id = $1::uuid`)

// revoked_at is the moment the row is written (clock_timestamp), after any rotation it waited for.
const end = statement('sessions_end', { ended: 'boolean', ...SESSION_STATE_COLUMNS }, `
  WITH ended AS (
    UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now()
    WHERE id = $1::uuid AND revoked_at IS NULL AND expires_at > now()
    RETURNING id
  ), ${retireLive('ended')}
  SELECT EXISTS (SELECT 1 FROM ended) AS ended, ${SESSION_STATE} FROM sessions s WHERE s.id = $1::uuid`)

const endAllOf = statement('sessions_end_all_of', { ended: 'number', ...SESSION_STATE_COLUMNS }, `
  WITH me AS (
    SELECT user_id FROM sessions WHERE id = $1::uuid AND revoked_at IS NULL AND expires_at > now()
  ), ended AS (
    UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now()
    WHERE user_id = (SELECT user_id FROM me) AND revoked_at IS NULL
    RETURNING id
  ), ${retireLive('ended')}
  SELECT (SELECT count(*) FROM ended)::int AS ended, ${SESSION_STATE} FROM sessions s WHERE s.id = $1::uuid`)

export class SessionRepository {
  constructor (private readonly db: Database, private readonly policy: SessionPolicy) {}

  /** Values for `openSessionSql`'s parameters, and what the login hands out: the session id and its first refresh token. */
  newSession (appid: string): { sessionId: string, refreshToken: string, values: { sessionId: string, appid: string, maxAge: number, tokenHash: Buffer, refreshTtl: number } } {
    const sessionId = randomUUID()
    const { token, hash } = newRefreshToken()
    return {
      sessionId,
      refreshToken: token,
      values: { sessionId, appid, maxAge: this.policy.sessionMaxAgeSeconds, tokenHash: hash, refreshTtl: this.policy.refreshTtlSeconds }
    }
  }

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
    const [row] = await this.db.run(rotate, [presented.hash, sealSuccessor(presented, next.token), next.hash, this.policy.refreshTtlSeconds])
    if (row !== undefined) return { sessionId: row.session_id, userId: row.user_id, appid: row.appid, refreshToken: next.token, refreshExpiresAt: row.expires_at }
    return this.rotateRetired(presented)
  }

  private async rotateRetired (presented: RefreshSecret): Promise<SessionGrant> {
    const [state] = await this.db.run(tokenState, [presented.hash, this.policy.reuseGraceSeconds])
    if (state === undefined) throw new RefreshTokenInvalid()
    const subject: Subject = { userId: state.user_id, sessionId: state.session_id, appid: state.appid }
    if (state.user_disabled) {
      // A banned user's refresh ends the session it came with.
      const ended = !state.session_revoked && !state.session_expired
      if (ended) await this.db.run(revoke, [state.session_id, 'user_disabled'])
      throw about(new UserDisabled(), subject, ended ? 'user_disabled' : undefined)
    }
    try {
      assertLive(state)
    } catch (error) {
      throw about(error as Error, subject)
    }
    if (!state.retired) {
      if (state.token_expired) throw about(new RefreshTokenExpired(), subject)
      // Neither retired nor expired, yet the update missed it: the session changed under us.
      throw about(new RefreshTokenInvalid(), subject)
    }
    if (state.in_grace === true && state.successor_enc !== null && state.live_hash !== null) {
      const successor = openSuccessor(presented, state.successor_enc)
      if (successor !== undefined && hashRefreshToken(successor).equals(state.live_hash)) {
        return { sessionId: state.session_id, userId: state.user_id, appid: state.appid, refreshToken: successor, refreshExpiresAt: state.live_expires_at! }
      }
    }
    // After the grace window, or a token whose successor was itself rotated: one of two holders is a thief.
    await this.db.run(revoke, [state.session_id, 'refresh_reuse'])
    throw about(new RefreshTokenReused(), subject, 'refresh_reuse')
  }

  /** A merge of two users (a unionid move): the sessions follow their identities, inside the merge's transaction. */
  async moveToUser (tx: Prisma.TransactionClient, fromUserId: string, toUserId: string): Promise<void> {
    await tx.session.updateMany({ where: { userId: fromUserId }, data: { userId: toUserId } })
  }

  /** The user who owns a live session now; a 401 for an ended one. */
  async live (sessionId: string): Promise<{ userId: string }> {
    const [row] = await this.db.run(live, [sessionId])
    assertLive(row)
    return { userId: row!.user_id }
  }

  /** Ends the session of a signed `sid`; a session that had already ended is a 401, not a silent success. */
  async end (sessionId: string, reason: string): Promise<void> {
    const [row] = await this.db.run(end, [sessionId, reason])
    if (row?.ended !== true) assertLive(row)
  }

  /**
   * Ends every session of the user who owns the live session `sid` now (a
   * unionid move may have changed owners since the token was signed). An ended
   * session's token ends nothing.
   */
  async endAllOf (sessionId: string, reason: string): Promise<number> {
    const [row] = await this.db.run(endAllOf, [sessionId, reason])
    if (row === undefined || row.ended === 0) assertLive(row)
    return row!.ended
  }
}
