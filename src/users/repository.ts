import { randomUUID } from 'node:crypto'
import type { Database } from '../db/database.js'
import { FOREIGN_KEY_VIOLATION, isTransient, isUniqueViolation, sqlState } from '../db/errors.js'
import { statement, type RowOf } from '../db/statements.js'
import type { Platform, PlatformIdentity, SubjectKind } from '../platforms/adapter.js'
import { Prisma } from '../generated/prisma/client.js'
import { SESSION_STATE_COLUMNS, USER_STATE_COLUMNS, assertLive, assertUsable, sessionState, userState, type UserState } from '../sessions/liveness.js'
import { openSessionSql, type SessionRepository } from '../sessions/repository.js'
import type { PhoneFields, ProfileFields, ProfileView } from './profile.js'
import type { SessionKeyVault } from './session-key-vault.js'

// The owner of `users` and `identities`: a person, and the identities (one per
// mini-program of a platform) the platforms know them by. An identity is
// (platform, appid, subject); a unionid links identities of its own platform only.

/** Who a platform's server said logged in, to which of the service's apps. */
export interface IdentityLogin extends PlatformIdentity {
  platform: Platform
  appid: string
}

export interface IdentityRow extends UserState {
  id: string
  user_id: string
  unionid: string | null
  /** Null where the platform has no session_key (Alipay). */
  session_key_enc: string | null
}

export interface LoginRecord {
  identityId: string
  userId: string
  isNewUser: boolean
  sessionId: string
  refreshToken: string
  refreshExpiresAt: Date
  sessionExpiresAt: Date
}

/** Another request created this identity (or its user) first: read it again and take the returning path. */
export class LostInsertRace extends Error {
  override name = 'LostInsertRace'
}

const findIdentity = statement('users_find_identity', { id: 'string', user_id: 'string', unionid: 'string?', session_key_enc: 'string?', ...USER_STATE_COLUMNS }, `
  SELECT i.id::text, i.user_id::text, i.unionid, i.session_key_enc, ${userState('u')}
  FROM identities i JOIN users u ON u.id = i.user_id WHERE i.platform = $1 AND i.appid = $2 AND i.subject = $3`)

/**
 * A login statement always answers one row: the identity and session it wrote
 * (NULL when it wrote none), and whether the user is banned. A banned user gets
 * no session and no new session_key.
 *
 * A login and a ban are ordered by the user row: the login share-locks it
 * (FOR SHARE, which a ban's UPDATE of disabled_at waits for, and which waits
 * for an uncommitted ban) and reads disabled_at from the row it locked, the
 * newest. A ban committed first refuses the login; a login committed first
 * has its session ended by the ban's trigger, whose statement starts after it.
 * FOR KEY SHARE, what the session's foreign key takes, would not conflict.
 */
const loginColumns = { user_id: 'string?', identity_id: 'string?', expires_at: 'date?', session_expires_at: 'date?', user_inserted: 'boolean', ...USER_STATE_COLUMNS } as const

/**
 * A first login: identity, user (unless one of this platform already has this
 * unionid), session and token in one statement. The identity row is written before its user;
 * Postgres checks foreign keys at the end of the statement, so that is valid.
 * A concurrent first login of the same person surfaces as no row (same app:
 * the identity exists) or a foreign-key error (another app created the user
 * with this unionid first): both mean "read again".
 */
const loginFirst = statement('users_login_first', loginColumns, `
  WITH owner AS (
    SELECT id, ${userState('users')} FROM users WHERE union_platform = $11 AND unionid = $5 FOR SHARE
  ), i AS (
    INSERT INTO identities (id, user_id, platform, appid, subject, subject_kind, unionid, session_key_enc)
    SELECT $1::uuid, COALESCE((SELECT id FROM owner), $2::uuid), $11, $3, $4, $12, $5, $6
    WHERE NOT EXISTS (SELECT 1 FROM owner WHERE user_disabled)
    ON CONFLICT (platform, appid, subject) DO NOTHING
    RETURNING id, user_id
  ), u AS (
    INSERT INTO users (id, unionid, union_platform) SELECT user_id, $5, CASE WHEN $5 IS NOT NULL THEN $11 END FROM i WHERE user_id = $2::uuid
    ON CONFLICT DO NOTHING
    RETURNING id
  ), ${openSessionSql({ sessionId: 7, appid: 3, maxAge: 8, tokenHash: 9, refreshTtl: 10 })}
  SELECT i.user_id::text AS user_id, i.id::text AS identity_id, t.expires_at, s.expires_at AS session_expires_at,
         EXISTS (SELECT 1 FROM u) AS user_inserted, EXISTS (SELECT 1 FROM owner WHERE user_disabled) AS user_disabled
  FROM (SELECT 1) one LEFT JOIN i ON true LEFT JOIN s ON true LEFT JOIN t ON true`)

/**
 * A known identity: the new session_key (the previous one kept for data
 * encrypted before it; both NULL where the platform has none), and a session. A unionid the identity lacks is not
 * written here but by linkUnionid, in one transaction with the link it makes:
 * a link that fails leaves the identity without it, and the next login links.
 */
const loginReturning = statement('users_login_returning', loginColumns, `
  WITH owner AS (
    SELECT id, ${userState('users')} FROM users
    WHERE id = (SELECT user_id FROM identities WHERE id = $1::uuid) FOR SHARE
  ), i AS (
    UPDATE identities SET
      previous_session_key_enc = CASE WHEN $2 THEN previous_session_key_enc ELSE session_key_enc END,
      session_key_enc = $3,
      session_key_updated_at = now(),
      updated_at = now()
    WHERE id = $1::uuid AND user_id IN (SELECT id FROM owner WHERE NOT user_disabled)
    RETURNING id, user_id
  ), ${openSessionSql({ sessionId: 4, appid: 5, maxAge: 6, tokenHash: 7, refreshTtl: 8 })}
  SELECT i.user_id::text AS user_id, i.id::text AS identity_id, t.expires_at, s.expires_at AS session_expires_at,
         false AS user_inserted, EXISTS (SELECT 1 FROM owner WHERE user_disabled) AS user_disabled
  FROM (SELECT 1) one LEFT JOIN i ON true LEFT JOIN s ON true LEFT JOIN t ON true`)

/** The user who owns a session now (found by its signed id), checked live in the same round trip. */
const profile = statement('users_profile', {
  id: 'string',
  appid: 'string',
  platform: 'string',
  subject: 'string',
  subjectKind: 'string',
  openid: 'string?',
  hasUnionid: 'boolean',
  nickname: 'string?',
  avatarUrl: 'string?',
  gender: 'number?',
  language: 'string?',
  city: 'string?',
  province: 'string?',
  country: 'string?',
  phoneNumber: 'string?',
  createdAt: 'date',
  ...SESSION_STATE_COLUMNS
}, `
  SELECT u.id::text AS id, s.appid, i.platform, i.subject, i.subject_kind AS "subjectKind",
         CASE WHEN i.subject_kind = 'openid' THEN i.subject END AS openid, u.unionid IS NOT NULL AS "hasUnionid",
         u.nickname, u.avatar_url AS "avatarUrl", u.gender::int AS gender, u.language, u.city, u.province, u.country,
         u.phone_number AS "phoneNumber", u.created_at AS "createdAt", ${sessionState('s')}
  FROM sessions s
  JOIN users u ON u.id = s.user_id
  JOIN identities i ON i.id = s.identity_id
  WHERE s.id = $1::uuid`)

const sessionKeys = statement('users_session_keys', {
  identity_id: 'string', user_id: 'string', platform: 'string', subject: 'string', session_key_enc: 'string?', previous_session_key_enc: 'string?', ...SESSION_STATE_COLUMNS
}, `
  SELECT i.id::text AS identity_id, s.user_id::text AS user_id, i.platform, i.subject, i.session_key_enc, i.previous_session_key_enc, ${sessionState('s')}
  FROM sessions s JOIN identities i ON i.id = s.identity_id
  WHERE s.id = $1::uuid`)

/**
 * Fields WeChat sent replace ours; fields it left out keep their value. A row
 * that would not change is not rewritten (the same profile decrypted again
 * costs a read, not a write).
 */
const updateProfile = statement('users_update_profile', {}, `
  WITH next AS (
    SELECT COALESCE($2, nickname) AS nickname, COALESCE($3, avatar_url) AS avatar_url,
           COALESCE($4::smallint, gender) AS gender, COALESCE($5, language) AS language,
           COALESCE($6, city) AS city, COALESCE($7, province) AS province, COALESCE($8, country) AS country
    FROM users WHERE id = $1::uuid
  )
  UPDATE users u SET nickname = next.nickname, avatar_url = next.avatar_url, gender = next.gender, language = next.language,
    city = next.city, province = next.province, country = next.country, updated_at = now()
  FROM next
  WHERE u.id = $1::uuid
    AND (u.nickname, u.avatar_url, u.gender, u.language, u.city, u.province, u.country)
        IS DISTINCT FROM (next.nickname, next.avatar_url, next.gender, next.language, next.city, next.province, next.country)`)

const updatePhone = statement('users_update_phone', {}, `
  UPDATE users SET phone_number = $2, pure_phone_number = $3, country_code = $4, updated_at = now() WHERE id = $1::uuid`)

export interface StoredSessionKeys {
  identityId: string
  userId: string
  platform: Platform
  subject: string
  /** Null where the platform has no session_key (Alipay). */
  currentEnc: string | null
  previousEnc: string | null
}

export class UserRepository {
  constructor (private readonly db: Database, private readonly vault: SessionKeyVault, private readonly sessions: SessionRepository) {}

  async findIdentity (platform: Platform, appid: string, subject: string): Promise<IdentityRow | undefined> {
    const [row] = await this.db.run(findIdentity, [platform, appid, subject])
    return row
  }

  /** Identity, user, session and its first refresh token: one statement. */
  async recordFirstLogin (login: IdentityLogin): Promise<LoginRecord> {
    const identityId = randomUUID()
    const session = this.sessions.newSession(login.appid)
    const { values: v } = session
    let rows
    try {
      rows = await this.db.run(loginFirst, [identityId, randomUUID(), login.appid, login.subject, login.unionid ?? null,
        this.sealKey(login, identityId), v.sessionId, v.maxAge, v.tokenHash, v.refreshTtl, login.platform, login.subjectKind])
    } catch (error) {
      if (sqlState(error) === FOREIGN_KEY_VIOLATION) throw new LostInsertRace()
      throw error
    }
    return this.loginRecord(rows[0], session)
  }

  /** A known identity: its new session_key and a session, one statement. */
  async recordReturningLogin (identity: IdentityRow, login: IdentityLogin): Promise<LoginRecord> {
    const session = this.sessions.newSession(login.appid)
    const { values: v } = session
    const rows = await this.db.run(loginReturning, [identity.id, this.sameKey(identity, login.sessionKey),
      this.sealKey(login, identity.id), v.sessionId, v.appid, v.maxAge, v.tokenHash, v.refreshTtl])
    return this.loginRecord(rows[0], session)
  }

  /**
   * A unionid that jscode2session returned for an identity that had none (the
   * app was bound to an Open Platform account after its first login). Only
   * the platform's server answer may link: never data a client relayed. The
   * unionid is `platform`'s: only a user holding it for that platform is the
   * same person. The user takes the unionid when no one has it; when another user has it, this
   * identity and its sessions move to that user and the emptied user is
   * removed. Two apps of one person linking at once race on the unique
   * unionid: the loser retries and finds the winner, which makes it a move; a
   * deadlock or serialization failure is retried too.
   * Off the hot path (once per identity): Prisma's model API.
   * Returns the user the identity now belongs to, and whether that user is
   * banned (the sessions moved to it then ended in the same transaction).
   */
  async linkUnionid (identityId: string, userId: string, platform: Platform, unionid: string): Promise<{ userId: string } & UserState> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.prisma.$transaction(async (tx) => {
          // Users before identities, as a login locks them: a login of this identity waits instead of deadlocking.
          const [me] = await tx.$queryRaw<UserState[]>`SELECT ${Prisma.raw(userState('users'))} FROM users WHERE id = ${userId}::uuid FOR UPDATE`
          if (me === undefined) {
            // A concurrent link of this identity merged it (and this login's session, opened before) into another user.
            const [now] = await tx.$queryRaw<Array<{ id: string } & UserState>>`
              SELECT u.id::text, ${Prisma.raw(userState('u'))} FROM identities i JOIN users u ON u.id = i.user_id
              WHERE i.id = ${identityId}::uuid FOR SHARE OF u`
            if (now === undefined) throw new Error('the identity being linked no longer exists')
            return { userId: now.id, user_disabled: now.user_disabled }
          }
          // Banned since the login statement read it (its trigger ended the session): no link, no merge that would delete the ban.
          if (me.user_disabled) return { userId, user_disabled: true }
          await tx.identity.update({ where: { id: identityId }, data: { unionid } })
          // Share-locked and read from the newest row, as a login reads its user: a ban of the owner
          // committed first is seen here, one committed after ends the moved sessions by its trigger.
          const [owner] = await tx.$queryRaw<Array<{ id: string } & UserState>>`
            SELECT id::text, ${Prisma.raw(userState('users'))} FROM users WHERE union_platform = ${platform} AND unionid = ${unionid} FOR SHARE`
          if (owner === undefined) {
            await tx.user.updateMany({ where: { id: userId, unionid: null }, data: { unionid, unionPlatform: platform } })
            return { userId, user_disabled: false }
          }
          if (owner.id === userId) return { userId, user_disabled: owner.user_disabled }
          const mine = await tx.user.findUnique({ where: { id: userId }, select: { unionid: true } })
          // A user with another unionid (of any platform) is another person: never merge across that.
          if (mine?.unionid != null) return { userId, user_disabled: false }
          // A banned user gets no session, moved ones included.
          if (owner.user_disabled) await this.sessions.endAllOfUser(tx, userId, 'user_disabled')
          await tx.identity.updateMany({ where: { userId }, data: { userId: owner.id } })
          await this.sessions.moveToUser(tx, userId, owner.id)
          await tx.user.delete({ where: { id: userId } })
          return { userId: owner.id, user_disabled: owner.user_disabled }
        })
      } catch (error) {
        if (!(isUniqueViolation(error) || isTransient(error)) || attempt >= 3) throw error
      }
    }
  }

  async profile (sessionId: string): Promise<ProfileView> {
    const [row] = await this.db.run(profile, [sessionId])
    assertLive(row)
    const {
      session_revoked: _revoked, session_expired: _expired, user_disabled: _disabled, createdAt, platform, subjectKind, ...view
    } = row!
    // The names the migrations' CHECKs allow.
    return { ...view, platform: platform as Platform, subjectKind: subjectKind as SubjectKind, createdAt: createdAt.toISOString() }
  }

  /** The stored session_keys of a live session's identity, still encrypted. */
  async sessionKeys (sessionId: string): Promise<StoredSessionKeys> {
    const [row] = await this.db.run(sessionKeys, [sessionId])
    assertLive(row)
    const { identity_id: identityId, user_id: userId, subject, session_key_enc: currentEnc, previous_session_key_enc: previousEnc } = row!
    return { identityId, userId, platform: row!.platform as Platform, subject, currentEnc, previousEnc }
  }

  async updateProfile (userId: string, p: ProfileFields): Promise<void> {
    await this.db.run(updateProfile, [
      userId, p.nickname ?? null, p.avatarUrl ?? null, p.gender ?? null,
      p.language ?? null, p.city ?? null, p.province ?? null, p.country ?? null
    ])
  }

  async updatePhone (userId: string, phone: PhoneFields): Promise<void> {
    await this.db.run(updatePhone, [userId, phone.phoneNumber, phone.purePhoneNumber, phone.countryCode])
  }

  /** The session_key sealed to its identity's row; null where the platform has none. */
  private sealKey (login: IdentityLogin, identityId: string): string | null {
    return login.sessionKey === undefined ? null : this.vault.encrypt(login.sessionKey, identityId)
  }

  private sameKey (identity: IdentityRow, sessionKey: string | undefined): boolean {
    if (identity.session_key_enc === null || sessionKey === undefined) return identity.session_key_enc === null && sessionKey === undefined
    try {
      return this.vault.decrypt(identity.session_key_enc, identity.id) === sessionKey
    } catch {
      return false
    }
  }

  private loginRecord (row: RowOf<typeof loginColumns> | undefined, session: { sessionId: string, refreshToken: string }): LoginRecord {
    assertUsable(row)
    if (
      row === undefined || row.user_id === null || row.identity_id === null || row.expires_at === null || row.session_expires_at === null
    ) {
      throw new LostInsertRace()
    }
    return {
      identityId: row.identity_id,
      userId: row.user_id,
      isNewUser: row.user_inserted,
      sessionId: session.sessionId,
      refreshToken: session.refreshToken,
      refreshExpiresAt: row.expires_at,
      sessionExpiresAt: row.session_expires_at
    }
  }
}
