import type { AccessClaims } from '../auth/service.js'
import type { SessionKeyVault } from '../auth/session-key-vault.js'
import { SessionRevoked } from '../auth/errors.js'
import type { Db } from '../db/prisma.js'
import type { AccessTokens } from '../wechat/access-token.js'
import type { WechatClient } from '../wechat/client.js'
import { checkSealedShape, decryptData, rawDataSignatureMatches, type DecryptedData, type Watermark } from '../wechat/data-crypto.js'
import {
  EncryptedDataInvalid, EncryptedDataMalformed, PhoneCodeInvalid, RawDataInvalid, SessionKeyStale,
  SignatureInvalid, WatermarkAppidMismatch, WatermarkExpired
} from './errors.js'
import type { IdentityRepository } from './identities.js'
import { phoneFromWechat, profileFromWechat, updatePhone, updateProfile, type PhoneFields } from './profile-update.js'

export interface UserDataDeps {
  db: Db
  vault: SessionKeyVault
  identities: IdentityRepository
  wechat: Pick<WechatClient, 'checkSession' | 'getUserPhoneNumber'>
  accessTokens: Pick<AccessTokens, 'withToken'>
  /** DECRYPT_MAX_AGE_SECONDS: refuse data whose watermark is older. */
  maxAgeSeconds?: number
}

interface SessionKeys {
  identityId: string
  userId: string
  /** The user's unionid as stored: linking is skipped when the data brings the same one. */
  unionid: string | null
  openid: string
  current: string
  /** Decrypted only when the current key fails. */
  previous: () => string | undefined
}

interface KeyRow {
  identity_id: string
  user_id: string
  unionid: string | null
  openid: string
  session_key_enc: string
  previous_session_key_enc: string | null
}

/** The "sensitive data" routes: decrypt, verify rawData, phone number; each updates the user it reads. */
export class UserDataService {
  constructor (private readonly deps: UserDataDeps) {}

  async decrypt (claims: AccessClaims, encryptedData: string, iv: string): Promise<Record<string, unknown>> {
    const shape = checkSealedShape(encryptedData, iv)
    if (typeof shape === 'string') throw new EncryptedDataMalformed(shape)
    const keys = await this.sessionKeys(claims)
    const data = this.tryKeys(keys, encryptedData, iv) ?? await this.explainFailure(claims.appid, keys)
    this.checkWatermark(data.watermark, claims.appid)
    await this.apply(keys, data)
    return data
  }

  async verify (claims: AccessClaims, rawData: string, signature: string): Promise<Record<string, unknown>> {
    const keys = await this.sessionKeys(claims)
    const candidates = [keys.current, keys.previous()].filter((k): k is string => k !== undefined)
    // Every candidate is compared, so timing does not tell which key (if any) matched.
    const matches = candidates.map((key) => rawDataSignatureMatches(rawData, key, signature))
    if (!matches.includes(true)) throw new SignatureInvalid()
    let parsed: unknown
    try { parsed = JSON.parse(rawData) } catch { throw new RawDataInvalid() }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RawDataInvalid()
    const profile = profileFromWechat(parsed as Record<string, unknown>)
    if (profile !== undefined) await updateProfile(this.deps.db, keys.userId, profile)
    return parsed as Record<string, unknown>
  }

  async phone (claims: AccessClaims, code: string): Promise<PhoneFields> {
    const info = await this.deps.accessTokens.withToken(claims.appid, (token) => this.deps.wechat.getUserPhoneNumber(token, code))
      .catch((error: { code?: string }) => {
        throw error.code === 'WECHAT_CODE_INVALID' || error.code === 'WECHAT_CODE_USED' ? new PhoneCodeInvalid() : error
      })
    this.checkWatermark(info.watermark, claims.appid)
    const phone = phoneFromWechat(info as unknown as Record<string, unknown>)!
    await updatePhone(this.deps.db, claims.sub, phone)
    return phone
  }

  private async sessionKeys (claims: AccessClaims): Promise<SessionKeys> {
    const [row] = await this.deps.db.$queryRaw<KeyRow[]>`
      SELECT i.id::text AS identity_id, s.user_id::text AS user_id, u.unionid, i.openid, i.session_key_enc, i.previous_session_key_enc
      FROM sessions s JOIN wechat_identities i ON i.id = s.identity_id JOIN users u ON u.id = s.user_id
      WHERE s.id = ${claims.sid}::uuid AND s.user_id = ${claims.sub}::uuid AND s.revoked_at IS NULL`
    if (row === undefined) throw new SessionRevoked()
    const { vault } = this.deps
    const previous = row.previous_session_key_enc
    return {
      identityId: row.identity_id,
      userId: row.user_id,
      unionid: row.unionid,
      openid: row.openid,
      current: vault.decrypt(row.session_key_enc, row.identity_id),
      previous: () => previous === null ? undefined : vault.decrypt(previous, row.identity_id)
    }
  }

  /** The current session_key first, then the previous one (data fetched before the latest wx.login). */
  private tryKeys (keys: SessionKeys, encryptedData: string, iv: string): DecryptedData | undefined {
    for (const key of [() => keys.current, keys.previous]) {
      const sessionKey = key()
      if (sessionKey === undefined) continue
      try { return decryptData(sessionKey, encryptedData, iv) } catch { /* next key; the reason is never shown */ }
    }
    return undefined
  }

  /** Neither key opens it: WeChat says whether our session_key is outdated (stale) or the data is bad. */
  private async explainFailure (appid: string, keys: SessionKeys): Promise<never> {
    const valid = await this.deps.accessTokens.withToken(appid, (token) => this.deps.wechat.checkSession(token, keys.openid, keys.current))
    throw valid ? new EncryptedDataInvalid() : new SessionKeyStale()
  }

  private checkWatermark (watermark: Watermark, appid: string): void {
    if (watermark.appid !== appid) throw new WatermarkAppidMismatch()
    const max = this.deps.maxAgeSeconds
    if (max !== undefined && Date.now() / 1000 - watermark.timestamp > max) throw new WatermarkExpired(max)
  }

  private async apply (keys: SessionKeys, data: DecryptedData): Promise<void> {
    let userId = keys.userId
    if (typeof data.unionId === 'string' && data.unionId !== '' && data.unionId !== keys.unionid) {
      userId = await this.deps.identities.linkUnionid(keys.identityId, keys.userId, data.unionId)
    }
    const profile = profileFromWechat(data)
    if (profile !== undefined) await updateProfile(this.deps.db, userId, profile)
    const phone = phoneFromWechat(data)
    if (phone !== undefined) await updatePhone(this.deps.db, userId, phone)
  }
}
