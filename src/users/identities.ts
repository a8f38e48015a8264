import { randomUUID } from 'node:crypto'
import type { SessionKeyVault } from '../auth/session-key-vault.js'
import type { Db } from '../db/prisma.js'

export interface WechatLogin {
  appid: string
  openid: string
  unionid?: string
  sessionKey: string
}

export interface IdentityRef {
  identityId: string
  userId: string
  isNewUser: boolean
}

interface IdentityRow {
  id: string
  user_id: string
  unionid: string | null
  session_key_enc: string
}

class LostInsertRace extends Error {}

/**
 * Finds or creates the user behind a WeChat login. The unique constraints
 * (appid, openid) and users.unionid decide races: two concurrent first logins
 * of one person end with one user, whichever request wins.
 */
export class IdentityRepository {
  constructor (private readonly db: Db, private readonly vault: SessionKeyVault) {}

  async upsertFromLogin (login: WechatLogin): Promise<IdentityRef> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.find(login.appid, login.openid)
      if (existing !== undefined) return this.refresh(existing, login)
      try {
        return await this.create(login)
      } catch (error) {
        if (!(error instanceof LostInsertRace)) throw error
      }
    }
    throw new Error('identity upsert did not settle after 3 attempts')
  }

  private async find (appid: string, openid: string): Promise<IdentityRow | undefined> {
    const rows = await this.db.$queryRaw<IdentityRow[]>`
      SELECT id::text, user_id::text, unionid, session_key_enc FROM wechat_identities WHERE appid = ${appid} AND openid = ${openid}`
    return rows[0]
  }

  /** A returning user: store the new session_key, keeping the previous one for data encrypted before. */
  private async refresh (row: IdentityRow, login: WechatLogin): Promise<IdentityRef> {
    const encrypted = this.vault.encrypt(login.sessionKey, row.id)
    const unchanged = this.sameKey(row, login.sessionKey)
    const unionid = login.unionid ?? null
    await this.db.$executeRaw`
      UPDATE wechat_identities SET
        previous_session_key_enc = CASE WHEN ${unchanged} THEN previous_session_key_enc ELSE session_key_enc END,
        session_key_enc = ${encrypted},
        session_key_updated_at = now(),
        unionid = COALESCE(${unionid}, unionid),
        updated_at = now()
      WHERE id = ${row.id}::uuid`
    if (login.unionid !== undefined && row.unionid === null) await this.adoptUnionid(row.user_id, login.unionid)
    return { identityId: row.id, userId: row.user_id, isNewUser: false }
  }

  private sameKey (row: IdentityRow, sessionKey: string): boolean {
    try {
      return this.vault.decrypt(row.session_key_enc, row.id) === sessionKey
    } catch {
      return false
    }
  }

  /** An app bound to the Open Platform after this user first logged in: the user learns its unionid, unless another user has it. */
  private async adoptUnionid (userId: string, unionid: string): Promise<void> {
    await this.db.$executeRaw`
      UPDATE users SET unionid = ${unionid}, updated_at = now()
      WHERE id = ${userId}::uuid AND unionid IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE unionid = ${unionid})`
  }

  /**
   * A unionid learnt after login (from decrypted user info) links the identity
   * like login does: the user takes it when no one has it; when another user
   * has it, this identity and its sessions move to that user and the emptied
   * user is removed. Returns the user the identity now belongs to.
   */
  async linkUnionid (identityId: string, userId: string, unionid: string): Promise<string> {
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`UPDATE wechat_identities SET unionid = ${unionid}, updated_at = now() WHERE id = ${identityId}::uuid`
      const [owner] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM users WHERE unionid = ${unionid} FOR UPDATE`
      if (owner === undefined) {
        await tx.$executeRaw`UPDATE users SET unionid = ${unionid}, updated_at = now() WHERE id = ${userId}::uuid AND unionid IS NULL`
        return userId
      }
      if (owner.id === userId) return userId
      const [mine] = await tx.$queryRaw<{ unionid: string | null }[]>`SELECT unionid FROM users WHERE id = ${userId}::uuid`
      // A user with another unionid is another person: never merge across that.
      if (mine?.unionid != null) return userId
      await tx.$executeRaw`UPDATE wechat_identities SET user_id = ${owner.id}::uuid, updated_at = now() WHERE user_id = ${userId}::uuid`
      await tx.$executeRaw`UPDATE sessions SET user_id = ${owner.id}::uuid, updated_at = now() WHERE user_id = ${userId}::uuid`
      await tx.$executeRaw`DELETE FROM users WHERE id = ${userId}::uuid`
      return owner.id
    })
  }

  private async create (login: WechatLogin): Promise<IdentityRef> {
    const identityId = randomUUID()
    const encrypted = this.vault.encrypt(login.sessionKey, identityId)
    const unionid = login.unionid ?? null
    // One transaction: a lost race on (appid, openid) must not leave a user without identity.
    return this.db.$transaction(async (tx) => {
      const [user] = await tx.$queryRaw<{ id: string, inserted: boolean }[]>`
        INSERT INTO users (unionid) VALUES (${unionid})
        ON CONFLICT (unionid) DO UPDATE SET updated_at = now()
        RETURNING id::text, (xmax = 0) AS inserted`
      const inserted = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO wechat_identities (id, user_id, appid, openid, unionid, session_key_enc)
        VALUES (${identityId}::uuid, ${user!.id}::uuid, ${login.appid}, ${login.openid}, ${unionid}, ${encrypted})
        ON CONFLICT (appid, openid) DO NOTHING
        RETURNING id::text`
      if (inserted.length === 0) throw new LostInsertRace()
      return { identityId, userId: user!.id, isNewUser: user!.inserted }
    })
  }
}
