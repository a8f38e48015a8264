import type { Platform, SubjectKind } from '../platforms/adapter.js'
/** A phone number as WeChat gives it (getPhoneNumber). */
export interface PhoneFields {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

/** A user as GET /v1/me shows it, in the mini-program of the session asking. */
export interface ProfileView {
  id: string
  appid: string
  platform: Platform
  /** The platform's id of the user: an openid, Kuaishou's open_id or Alipay's user_id (subjectKind says which). */
  subject: string
  subjectKind: SubjectKind
  /** subject when it is an openid, else null: kept for WeChat clients written before platform and subject. */
  openid: string | null
  hasUnionid: boolean
  nickname: string | null
  avatarUrl: string | null
  gender: number | null
  language: string | null
  city: string | null
  province: string | null
  country: string | null
  phoneNumber: string | null
  /** ISO 8601. */
  createdAt: string
}

export interface ProfileFields {
  nickname?: string
  avatarUrl?: string
  gender?: number
  language?: string
  city?: string
  province?: string
  country?: string
}

const LIMITS: Record<keyof ProfileFields, number> = {
  nickname: 256, avatarUrl: 1024, gender: 0, language: 32, city: 128, province: 128, country: 128
}

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
