import { randomUUID } from 'node:crypto'
import { Prisma } from '../generated/prisma/client.js'
import { FOREIGN_KEY_VIOLATION, sqlState } from '../db/errors.js'
import type { Db } from '../db/prisma.js'
import type { IdentityRow, WechatLogin } from '../users/identities.js'
import { newRefreshToken } from './refresh-token.js'
import type { SessionKeyVault } from './session-key-vault.js'
import { refreshExpiry, type SessionGrant, type SessionPolicy } from './sessions.js'

export interface LoginGrant extends SessionGrant {
  identityId: string
  isNewUser: boolean
}

/** Another request created this identity (or its user) first: read it again and take the returning path. */
export class LostInsertRace extends Error {
  override name = 'LostInsertRace'
}

interface GrantRow {
  user_id: string
  identity_id: string
  expires_at: Date
  user_inserted: boolean
}

/**
 * Everything a login writes, in one statement per login: the identity (its new
 * session_key, or the identity and its user on a first login), the session and
 * its first refresh token. One round trip, and all or nothing.
 */
export class LoginWrites {
  constructor (private readonly db: Db, private readonly vault: SessionKeyVault, private readonly policy: SessionPolicy) {}

  /** A known identity: store the new session_key (the previous one kept for data encrypted before) and open a session. */
  async returning (identity: IdentityRow, login: WechatLogin): Promise<LoginGrant> {
    const encrypted = this.vault.encrypt(login.sessionKey, identity.id)
    const unchanged = this.sameKey(identity, login.sessionKey)
    const session = this.sessionParts(login.appid)
    const rows = await this.db.$queryRaw<GrantRow[]>`
      WITH i AS (
        UPDATE wechat_identities SET
          previous_session_key_enc = CASE WHEN ${unchanged} THEN previous_session_key_enc ELSE session_key_enc END,
          session_key_enc = ${encrypted},
          session_key_updated_at = now(),
          unionid = COALESCE(${login.unionid ?? null}, unionid),
          updated_at = now()
        WHERE id = ${identity.id}::uuid
        RETURNING id, user_id
      ), ${session.ctes}
      SELECT i.user_id::text AS user_id, i.id::text AS identity_id, t.expires_at, false AS user_inserted FROM i, t`
    if (rows[0] === undefined) throw new LostInsertRace()
    return this.grant(rows[0], session, login.appid)
  }

  /**
   * A first login: identity, user (unless one already has this unionid),
   * session and token in one statement. The identity row is written before its
   * user; Postgres checks foreign keys at the end of the statement, so that is
   * valid. A concurrent first login of the same person surfaces as no row (same
   * app: the identity exists) or a foreign-key error (another app created the
   * user with this unionid first): both mean "read again".
   */
  async first (login: WechatLogin): Promise<LoginGrant> {
    const identityId = randomUUID()
    const newUserId = randomUUID()
    const encrypted = this.vault.encrypt(login.sessionKey, identityId)
    const unionid = login.unionid ?? null
    const session = this.sessionParts(login.appid)
    let rows: GrantRow[]
    try {
      rows = await this.db.$queryRaw<GrantRow[]>`
        WITH i AS (
          INSERT INTO wechat_identities (id, user_id, appid, openid, unionid, session_key_enc)
          VALUES (${identityId}::uuid, COALESCE((SELECT id FROM users WHERE unionid = ${unionid}), ${newUserId}::uuid),
                  ${login.appid}, ${login.openid}, ${unionid}, ${encrypted})
          ON CONFLICT (appid, openid) DO NOTHING
          RETURNING id, user_id
        ), u AS (
          INSERT INTO users (id, unionid) SELECT user_id, ${unionid} FROM i WHERE user_id = ${newUserId}::uuid
          ON CONFLICT DO NOTHING
          RETURNING id
        ), ${session.ctes}
        SELECT i.user_id::text AS user_id, i.id::text AS identity_id, t.expires_at, EXISTS (SELECT 1 FROM u) AS user_inserted FROM i, t`
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new LostInsertRace()
      throw error
    }
    if (rows[0] === undefined) throw new LostInsertRace()
    return this.grant(rows[0], session, login.appid)
  }

  /** The session and refresh-token CTEs that follow `i` (the identity written by the statement). */
  private sessionParts (appid: string): { sessionId: string, token: string, ctes: Prisma.Sql } {
    const sessionId = randomUUID()
    const { token, hash } = newRefreshToken()
    const ctes = Prisma.sql`
      s AS (
        INSERT INTO sessions (id, user_id, identity_id, appid, expires_at)
        SELECT ${sessionId}::uuid, i.user_id, i.id, ${appid}, now() + make_interval(secs => ${this.policy.sessionMaxAgeSeconds}::int) FROM i
        RETURNING id, expires_at
      ), t AS (
        INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
        SELECT s.id, ${hash}, ${refreshExpiry(this.policy, Prisma.raw('s.expires_at'))} FROM s
        RETURNING expires_at
      )`
    return { sessionId, token, ctes }
  }

  private sameKey (identity: IdentityRow, sessionKey: string): boolean {
    try {
      return this.vault.decrypt(identity.session_key_enc, identity.id) === sessionKey
    } catch {
      return false
    }
  }

  private grant (row: GrantRow, session: { sessionId: string, token: string }, appid: string): LoginGrant {
    return {
      sessionId: session.sessionId,
      userId: row.user_id,
      identityId: row.identity_id,
      appid,
      refreshToken: session.token,
      refreshExpiresAt: row.expires_at,
      isNewUser: row.user_inserted
    }
  }
}
