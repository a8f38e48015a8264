import { SessionRevoked, UserNotFound } from '../auth/errors.js'
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

interface ProfileRow extends Omit<ProfileView, 'createdAt'> {
  createdAt: Date
  revoked: boolean
}

/**
 * The user of a session, in one round trip that also checks the session is
 * still live (a logged-out session's access token stops reading profiles at once).
 * Only this session's app's openid is shown; session_key never is.
 */
export async function getProfile (db: Db, userId: string, sessionId: string): Promise<ProfileView> {
  const [row] = await db.$queryRaw<ProfileRow[]>`
    SELECT u.id::text AS id, s.appid, i.openid, u.unionid IS NOT NULL AS "hasUnionid",
           u.nickname, u.avatar_url AS "avatarUrl", u.gender, u.language, u.city, u.province, u.country,
           u.phone_number AS "phoneNumber", u.created_at AS "createdAt", s.revoked_at IS NOT NULL AS revoked
    FROM sessions s
    JOIN users u ON u.id = s.user_id
    JOIN wechat_identities i ON i.id = s.identity_id
    WHERE s.id = ${sessionId}::uuid AND s.user_id = ${userId}::uuid`
  if (row === undefined) throw new UserNotFound()
  if (row.revoked) throw new SessionRevoked()
  const { revoked: _revoked, createdAt, ...profile } = row
  return { ...profile, createdAt: createdAt.toISOString() }
}
