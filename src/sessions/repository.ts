import { randomUUID } from 'node:crypto'
import type { Database } from '../db/database.js'
import type { Prisma } from '../generated/prisma/client.js'
import { statement, type RowOf } from '../db/statements.js'
import { RefreshTokenExpired, RefreshTokenInvalid, RefreshTokenReused, ServiceError, UserDisabled, type Subject } from '../errors.js'
import { SESSION_STATE_COLUMNS, assertLive, sessionLive, sessionOpen, sessionState } from './liveness.js'
import { hashRefreshToken, isLegacyRefreshToken, openSuccessor, sealSuccessor, type RefreshSecret, type RefreshTokens } from './refresh-token.js'

// The owner of `sessions` and `refresh_tokens`. A session is one login and one
// chain of refresh tokens, held on its own row (scheme: refresh-token.ts): one
// current token at a time, and every write is one statement. refresh_tokens
// holds only tokens of the previous scheme, until they expire.

export interface SessionPolicy {
  refreshTtlSeconds: number
  sessionMaxAgeSeconds: number
  reuseGraceSeconds: number
}

export interface TokenGrant {
  sessionId: string
  userId: string
  appid: string
  refreshToken: string
  refreshExpiresAt: Date
  /** The session's end (SESSION_MAX_AGE after its login): no token it issues outlives it. */
  sessionExpiresAt: Date
}

/** A new refresh token expires REFRESH_TOKEN_TTL from now, never after its session. */
const refreshExpiry = (ttlParam: number, sessionExpiresAt: string): string =>
  `LEAST(now() + make_interval(secs => $${ttlParam}::int), ${sessionExpiresAt})`

/** Positions of the parameters `openSessionSql` reads, in the statement that embeds it. */
export interface OpenSessionParams { sessionId: number, appid: number, maxAge: number, tokenHash: number, refreshTtl: number }

/**
 * The CTEs that open a session, holding its first refresh token (generation 0),
 * for the identity a preceding CTE `i` (columns id, user_id) wrote: a login is
 * one statement. They end in CTE `t` with the token's expires_at.
 */
export function openSessionSql (p: OpenSessionParams): string {
  return `
    s AS (
      INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, refresh_hash, refresh_expires_at)
      SELECT $${p.sessionId}::uuid, i.user_id, i.id, $${p.appid}, now() + make_interval(secs => $${p.maxAge}::int),
             $${p.tokenHash}, ${refreshExpiry(p.refreshTtl, `now() + make_interval(secs => $${p.maxAge}::int)`)} FROM i
      RETURNING id, expires_at, refresh_expires_at
    ), t AS (
      SELECT refresh_expires_at AS expires_at FROM s
    )`
}

const rotated = { session_id: 'string', user_id: 'string', appid: 'string', expires_at: 'date', session_expires_at: 'date' } as const

// refresh_retired_at is the moment the row is written (clock_timestamp), after any logout it waited for.
/**
 * One UPDATE of the session row, matched by the current token's hash: it
 * retires that token (kept as the previous one, with its successor sealed for
 * the grace window) and makes the successor current. Concurrent uses of one
 * token queue on the row lock and then no longer match; so does a rotation
 * queued behind a logout, a ban or a reuse revocation, which update this row too.
 */
const rotate = statement('sessions_rotate', rotated, `
  UPDATE sessions s SET refresh_generation = s.refresh_generation + 1, previous_refresh_hash = s.refresh_hash,
    refresh_retired_at = clock_timestamp(), refresh_successor_enc = $3, refresh_hash = $4,
    refresh_expires_at = ${refreshExpiry(5, 's.expires_at')}, updated_at = now()
  WHERE s.id = $1::uuid AND s.refresh_hash = $2 AND s.refresh_expires_at > now() AND ${sessionLive('s')}
  RETURNING s.id::text AS session_id, s.user_id::text, s.appid, s.refresh_expires_at AS expires_at, s.expires_at AS session_expires_at`)

/**
 * A token of the previous scheme (a refresh_tokens row) rotates once more, into
 * this scheme: its row is retired, the session row takes the successor as it
 * would from a token of its own. The session row is locked first, as above.
 */
const rotateLegacy = statement('sessions_rotate_legacy', rotated, `
  WITH s AS (
    SELECT s.id FROM sessions s
    WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) AND s.refresh_hash IS NULL
      AND ${sessionLive('s')}
    FOR UPDATE OF s
  ), old AS (
    UPDATE refresh_tokens rt SET retired_at = now(), updated_at = now()
    FROM s
    WHERE rt.token_hash = $1 AND rt.session_id = s.id AND rt.retired_at IS NULL AND rt.expires_at > now()
    RETURNING rt.session_id
  )
  UPDATE sessions s SET refresh_generation = 1, previous_refresh_hash = $1, refresh_retired_at = clock_timestamp(),
    refresh_successor_enc = $2, refresh_hash = $3, refresh_expires_at = ${refreshExpiry(4, 's.expires_at')}, updated_at = now()
  FROM old WHERE s.id = old.session_id
  RETURNING s.id::text AS session_id, s.user_id::text, s.appid, s.refresh_expires_at AS expires_at, s.expires_at AS session_expires_at`)

/**
 * What a token that did not rotate is to its session: `live` (the current
 * token: expired, or its session changed under the rotation), `retired` (an
 * earlier token of this session: reuse), `in_grace` (the previous token,
 * retired within REFRESH_REUSE_GRACE), with the sealed successor and the
 * current token it must hash to.
 */
const presentedColumns = {
  session_id: 'string',
  user_id: 'string',
  appid: 'string',
  session_expires_at: 'date',
  ...SESSION_STATE_COLUMNS,
  live: 'boolean',
  retired: 'boolean',
  token_expired: 'boolean',
  in_grace: 'boolean',
  successor_enc: 'string?',
  live_hash: 'bytes?',
  live_expires_at: 'date'
} as const

type PresentedState = RowOf<typeof presentedColumns>

const grant = (row: RowOf<typeof rotated>, refreshToken: string): TokenGrant =>
  ({
    sessionId: row.session_id,
    userId: row.user_id,
    appid: row.appid,
    refreshToken,
    refreshExpiresAt: row.expires_at,
    sessionExpiresAt: row.session_expires_at
  })

/** $1 session id, $2 token hash, $3 the token's generation, $4 grace seconds. */
const tokenState = statement('sessions_token_state', presentedColumns, `
  SELECT s.id::text AS session_id, s.user_id::text, s.appid, s.expires_at AS session_expires_at, ${sessionState('s')},
         COALESCE(s.refresh_hash = $2, false) AS live,
         $3::int < s.refresh_generation AND ($3::int < s.refresh_generation - 1 OR COALESCE(s.previous_refresh_hash = $2, false)) AS retired,
         s.refresh_expires_at <= now() AS token_expired,
         COALESCE(s.previous_refresh_hash = $2 AND s.refresh_retired_at > now() - make_interval(secs => $4::int), false) AS in_grace,
         s.refresh_successor_enc AS successor_enc, s.refresh_hash AS live_hash, s.refresh_expires_at AS live_expires_at
  FROM sessions s WHERE s.id = $1::uuid`)

/**
 * The same for a token of the previous scheme. Its successor is on the session
 * row when this scheme rotated it, on its own row when the previous code did
 * (moments before the deploy), with the live legacy row it must hash to.
 */
const legacyTokenState = statement('sessions_legacy_token_state', presentedColumns, `
  SELECT s.id::text AS session_id, s.user_id::text, s.appid, s.expires_at AS session_expires_at, ${sessionState('s')},
         rt.retired_at IS NULL AS live, rt.retired_at IS NOT NULL AS retired, rt.expires_at <= now() AS token_expired,
         COALESCE(rt.retired_at > now() - make_interval(secs => $2::int), false) AS in_grace,
         COALESCE(CASE WHEN s.previous_refresh_hash = rt.token_hash THEN s.refresh_successor_enc END, rt.successor_enc) AS successor_enc,
         COALESCE(live.token_hash, s.refresh_hash) AS live_hash, COALESCE(live.expires_at, s.refresh_expires_at) AS live_expires_at
  FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
  LEFT JOIN refresh_tokens live ON live.session_id = rt.session_id AND live.retired_at IS NULL
  WHERE rt.token_hash = $1`)

/** Ending a session also retires its live token of the previous scheme (one of this scheme ends with its row). */
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
  ), ${retireLive('ended')}
  SELECT FROM retired`)

const live = statement('sessions_live', { user_id: 'string', ...SESSION_STATE_COLUMNS }, `
  SELECT s.user_id::text, ${sessionState('s')} FROM sessions s WHERE s.id = $1::uuid`)

// revoked_at is the moment the row is written (clock_timestamp), after any rotation it waited for.
const end = statement('sessions_end', { ended: 'boolean', ...SESSION_STATE_COLUMNS }, `
  WITH ended AS (
    UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now()
    WHERE id = $1::uuid AND revoked_at IS NULL AND expires_at > now()
    RETURNING id
  ), ${retireLive('ended')}
  SELECT EXISTS (SELECT 1 FROM ended) AS ended, ${sessionState('s')} FROM sessions s WHERE s.id = $1::uuid`)

const endAllOf = statement('sessions_end_all_of', { ended: 'number', ...SESSION_STATE_COLUMNS }, `
  WITH me AS (
    SELECT user_id FROM sessions WHERE id = $1::uuid AND revoked_at IS NULL AND expires_at > now()
  ), ended AS (
    UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now()
    WHERE user_id = (SELECT user_id FROM me) AND revoked_at IS NULL
    RETURNING id
  ), ${retireLive('ended')}
  SELECT (SELECT count(*) FROM ended)::int AS ended, ${sessionState('s')} FROM sessions s WHERE s.id = $1::uuid`)

export class SessionRepository {
  constructor (private readonly db: Database, private readonly policy: SessionPolicy, private readonly tokens: RefreshTokens) {}

  /** Values for `openSessionSql`'s parameters, and what the login hands out: the session id and its first refresh token. */
  newSession (appid: string): {
    sessionId: string
    refreshToken: string
    values: { sessionId: string, appid: string, maxAge: number, tokenHash: Buffer, refreshTtl: number }
  } {
    const sessionId = randomUUID()
    const { token, hash } = this.tokens.issue(sessionId, 0)
    return {
      sessionId,
      refreshToken: token,
      values: { sessionId, appid, maxAge: this.policy.sessionMaxAgeSeconds, tokenHash: hash, refreshTtl: this.policy.refreshTtlSeconds }
    }
  }

  /**
   * Rotates the presented token into its successor in one statement; a use
   * again within the grace window gets that same successor (one chain), an
   * earlier token otherwise ends the session. A token that does not verify is
   * refused before any database access.
   */
  async rotate (token: string): Promise<TokenGrant> {
    if (isLegacyRefreshToken(token)) return this.rotateLegacy({ token, hash: hashRefreshToken(token) })
    const presented = this.tokens.verify(token)
    if (presented === undefined) throw new RefreshTokenInvalid()
    const next = this.tokens.issue(presented.sessionId, presented.generation + 1)
    const [row] = await this.db.run(rotate, [
      presented.sessionId, presented.hash, sealSuccessor(presented, next.token), next.hash, this.policy.refreshTtlSeconds
    ])
    if (row !== undefined) return grant(row, next.token)
    const [state] = await this.db.run(tokenState, [
      presented.sessionId, presented.hash, presented.generation, this.policy.reuseGraceSeconds
    ])
    return this.notRotated(presented, state)
  }

  /** A token of the previous scheme: its session is found by its row, then it rotates as above. */
  private async rotateLegacy (presented: RefreshSecret): Promise<TokenGrant> {
    const [before] = await this.db.run(legacyTokenState, [presented.hash, this.policy.reuseGraceSeconds])
    if (before?.live !== true || before.token_expired) return this.notRotated(presented, before)
    const next = this.tokens.issue(before.session_id, 1)
    const [row] = await this.db.run(rotateLegacy, [
      presented.hash, sealSuccessor(presented, next.token), next.hash, this.policy.refreshTtlSeconds
    ])
    if (row !== undefined) return grant(row, next.token)
    const [state] = await this.db.run(legacyTokenState, [presented.hash, this.policy.reuseGraceSeconds])
    return this.notRotated(presented, state)
  }

  private async notRotated (presented: RefreshSecret, state: PresentedState | undefined): Promise<TokenGrant> {
    if (state === undefined) throw new RefreshTokenInvalid()
    const subject: Subject = { userId: state.user_id, sessionId: state.session_id, appid: state.appid }
    try {
      assertLive(state)
    } catch (error) {
      // A banned user's refresh ends the session it came with, unless that had ended already.
      const ending = error instanceof UserDisabled && sessionOpen(state)
      if (ending) await this.db.run(revoke, [state.session_id, 'user_disabled'])
      throw error instanceof ServiceError ? error.about(subject, ending ? 'user_disabled' : undefined) : error
    }
    if (state.live) {
      if (state.token_expired) throw new RefreshTokenExpired({ subject })
      // Current and unexpired, yet the update missed it: the session changed under us.
      throw new RefreshTokenInvalid({ subject })
    }
    // A valid MAC on a generation never issued (or a previous one that was not this): not this session's token.
    if (!state.retired) throw new RefreshTokenInvalid({ subject })
    if (state.in_grace && state.successor_enc !== null && state.live_hash !== null) {
      const successor = openSuccessor(presented, state.successor_enc)
      if (successor !== undefined && hashRefreshToken(successor).equals(state.live_hash)) {
        return {
          sessionId: state.session_id,
          userId: state.user_id,
          appid: state.appid,
          refreshToken: successor,
          refreshExpiresAt: state.live_expires_at,
          sessionExpiresAt: state.session_expires_at
        }
      }
    }
    // After the grace window, or a token whose successor was itself rotated: one of two holders is a thief.
    await this.db.run(revoke, [state.session_id, 'refresh_reuse'])
    throw new RefreshTokenReused({ subject, revoked: 'refresh_reuse' })
  }

  /** A merge of two users (a unionid move): the sessions follow their identities, inside the merge's transaction. */
  async moveToUser (tx: Prisma.TransactionClient, fromUserId: string, toUserId: string): Promise<void> {
    await tx.session.updateMany({ where: { userId: fromUserId }, data: { userId: toUserId } })
  }

  /** Ends every session of a user inside the caller's transaction (a merge into a banned user). */
  async endAllOfUser (tx: Prisma.TransactionClient, userId: string, reason: string): Promise<void> {
    await tx.$executeRawUnsafe(`
      WITH ended AS (
        UPDATE sessions SET revoked_at = clock_timestamp(), revoked_reason = $2, updated_at = now()
        WHERE user_id = $1::uuid AND revoked_at IS NULL
        RETURNING id
      ), ${retireLive('ended')}
      SELECT FROM retired`, userId, reason)
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
    let ended = 0
    for (let attempt = 1; ; attempt++) {
      const [row] = await this.db.run(endAllOf, [sessionId, reason])
      if (attempt === 1 && (row === undefined || row.ended === 0)) assertLive(row)
      ended += row?.ended ?? 0
      // A unionid move that committed while the statement ran re-owned the sessions it had read (this one
      // among them): its UPDATE re-checked them against the owner read before and skipped them. Again, afresh.
      const [now] = await this.db.run(live, [sessionId])
      if (now?.session_revoked !== false || attempt >= 3) return ended
    }
  }
}
