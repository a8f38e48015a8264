import { UNIQUE_VIOLATION, sqlState } from '../db/errors.js'
import type { Db } from '../db/prisma.js'

export interface WechatLogin {
  appid: string
  openid: string
  unionid?: string
  sessionKey: string
}

export interface IdentityRow {
  id: string
  user_id: string
  unionid: string | null
  session_key_enc: string
}

/**
 * Identities: one per (appid, openid), each belonging to a user. The writes a
 * login makes live in auth/login-writes.ts (one statement with the session).
 */
export class IdentityRepository {
  constructor (private readonly db: Db) {}

  async find (appid: string, openid: string): Promise<IdentityRow | undefined> {
    const rows = await this.db.$queryRaw<IdentityRow[]>`
      SELECT id::text, user_id::text, unionid, session_key_enc FROM wechat_identities WHERE appid = ${appid} AND openid = ${openid}`
    return rows[0]
  }

  /**
   * A unionid that jscode2session returned for an identity that had none (the
   * app was bound to an Open Platform account after its first login). Only
   * WeChat's server answer may link: never data a client relayed. The user
   * takes the unionid when no one has it; when another user has it, this
   * identity and its sessions move to that user and the emptied user is
   * removed. Two apps of one person linking at once race on the unique
   * unionid: the loser retries and finds the winner, which makes it a move.
   * Returns the user the identity now belongs to.
   */
  async linkUnionid (identityId: string, userId: string, unionid: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.linkOnce(identityId, userId, unionid)
      } catch (error) {
        if (sqlState(error) !== UNIQUE_VIOLATION || attempt >= 3) throw error
      }
    }
  }

  private async linkOnce (identityId: string, userId: string, unionid: string): Promise<string> {
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
}
