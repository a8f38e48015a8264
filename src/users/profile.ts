import { SESSION_STATE, assertLive, type SessionState } from '../auth/sessions.js'
import type { Db } from '../db/prisma.js'

export interface ProfileView {
  id: string
  appid: string
  openid: string
  hasUnionid: boolean
  nickname: string | null
  avatarUrl: string | null
  gender: number | null
  language: string | null
  city: string | null
  province: string | null
  country: string | null
  phoneNumber: string | null
  createdAt: string
}

interface ProfileRow extends Omit<ProfileView, 'createdAt'>, SessionState {
  createdAt: Date
}

/**
 * The user who owns a session now (found by the signed session id: a unionid
 * move may have changed owners), in one round trip that also checks the session
 * is still live. Only this session's app's openid is shown; session_key never is.
 */
export async function getProfile (db: Db, sessionId: string): Promise<ProfileView> {
  const [row] = await db.$queryRaw<ProfileRow[]>`
    SELECT u.id::text AS id, s.appid, i.openid, u.unionid IS NOT NULL AS "hasUnionid",
           u.nickname, u.avatar_url AS "avatarUrl", u.gender, u.language, u.city, u.province, u.country,
           u.phone_number AS "phoneNumber", u.created_at AS "createdAt", ${SESSION_STATE}
    FROM sessions s
    JOIN users u ON u.id = s.user_id
    JOIN wechat_identities i ON i.id = s.identity_id
    WHERE s.id = ${sessionId}::uuid`
  assertLive(row)
  const { session_revoked: _revoked, session_expired: _expired, createdAt, ...profile } = row!
  return { ...profile, createdAt: createdAt.toISOString() }
}
