import type { Db } from '../db/prisma.js'

export interface ProfileFields {
  nickname?: string
  avatarUrl?: string
  gender?: number
  language?: string
  city?: string
  province?: string
  country?: string
}

export interface PhoneFields {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

const LIMITS: Record<keyof ProfileFields, number> = { nickname: 256, avatarUrl: 1024, gender: 0, language: 32, city: 128, province: 128, country: 128 }

/**
 * Cuts by code points, so a 4-byte emoji is never split in half; drops NUL
 * (Postgres text refuses it) and replaces lone surrogates (not valid UTF-8).
 */
const fit = (value: unknown, max: number): string | undefined =>
  typeof value === 'string' ? [...value.replaceAll('\u0000', '').toWellFormed()].slice(0, max).join('') : undefined

/** WeChat's user-info field names (nickName, avatarUrl, ...) to ours; unknown fields are ignored. */
export function profileFromWechat (info: Record<string, unknown>): ProfileFields | undefined {
  if (typeof info.nickName !== 'string' && typeof info.avatarUrl !== 'string') return undefined
  const gender = typeof info.gender === 'number' && Number.isInteger(info.gender) && info.gender >= 0 && info.gender <= 2 ? info.gender : undefined
  return {
    nickname: fit(info.nickName, LIMITS.nickname),
    avatarUrl: fit(info.avatarUrl, LIMITS.avatarUrl),
    gender,
    language: fit(info.language, LIMITS.language),
    city: fit(info.city, LIMITS.city),
    province: fit(info.province, LIMITS.province),
    country: fit(info.country, LIMITS.country)
  }
}

export function phoneFromWechat (info: Record<string, unknown>): PhoneFields | undefined {
  const { phoneNumber, purePhoneNumber, countryCode } = info
  if (typeof phoneNumber !== 'string' || typeof purePhoneNumber !== 'string' || typeof countryCode !== 'string') return undefined
  return { phoneNumber: fit(phoneNumber, 32)!, purePhoneNumber: fit(purePhoneNumber, 32)!, countryCode: fit(countryCode, 8)! }
}

/**
 * Fields WeChat sent replace ours; fields it left out keep their value. A row
 * that would not change is not rewritten (the same profile decrypted again
 * costs a read, not a write).
 */
export async function updateProfile (db: Db, userId: string, p: ProfileFields): Promise<void> {
  await db.$executeRaw`
    WITH next AS (
      SELECT COALESCE(${p.nickname ?? null}, nickname) AS nickname, COALESCE(${p.avatarUrl ?? null}, avatar_url) AS avatar_url,
             COALESCE(${p.gender ?? null}::smallint, gender) AS gender, COALESCE(${p.language ?? null}, language) AS language,
             COALESCE(${p.city ?? null}, city) AS city, COALESCE(${p.province ?? null}, province) AS province,
             COALESCE(${p.country ?? null}, country) AS country
      FROM users WHERE id = ${userId}::uuid
    )
    UPDATE users u SET nickname = next.nickname, avatar_url = next.avatar_url, gender = next.gender, language = next.language,
      city = next.city, province = next.province, country = next.country, updated_at = now()
    FROM next
    WHERE u.id = ${userId}::uuid
      AND (u.nickname, u.avatar_url, u.gender, u.language, u.city, u.province, u.country)
          IS DISTINCT FROM (next.nickname, next.avatar_url, next.gender, next.language, next.city, next.province, next.country)`
}

export async function updatePhone (db: Db, userId: string, phone: PhoneFields): Promise<void> {
  await db.$executeRaw`
    UPDATE users SET phone_number = ${phone.phoneNumber}, pure_phone_number = ${phone.purePhoneNumber},
      country_code = ${phone.countryCode}, updated_at = now()
    WHERE id = ${userId}::uuid`
}
