import { createHash } from 'node:crypto'
import type { AccessClaims } from '../auth/service.js'
import type { SessionKeyVault } from '../auth/session-key-vault.js'
import { SESSION_STATE, assertLive, type SessionState, type SessionStore } from '../auth/sessions.js'
import type { Db } from '../db/prisma.js'
import type { AccessTokens } from '../wechat/access-token.js'
import type { WechatClient } from '../wechat/client.js'
import { checkSealedShape, decryptData, parseJsonObject, rawDataSignatureMatches, type DecryptedData, type Watermark } from '../wechat/data-crypto.js'
import { SingleFlight } from '../wechat/single-flight.js'
import {
  EncryptedDataInvalid, EncryptedDataMalformed, PhoneCodeInvalid, RawDataInvalid, SessionKeyStale,
  SignatureInvalid, WatermarkAppidMismatch, WatermarkExpired
} from './errors.js'
import { phoneFromWechat, profileFromWechat, updatePhone, updateProfile, type PhoneFields } from './profile-update.js'

export interface UserDataDeps {
  db: Db
  vault: SessionKeyVault
  sessions: Pick<SessionStore, 'live'>
  wechat: Pick<WechatClient, 'checkSession' | 'getUserPhoneNumber'>
  accessTokens: Pick<AccessTokens, 'withToken'>
  /** DECRYPT_MAX_AGE_SECONDS: refuse data whose watermark is older. */
  maxAgeSeconds?: number
  now?: () => number
}

interface SessionKeys {
  identityId: string
  userId: string
  openid: string
  /** Changes whenever the stored key is rewritten: names this key in the checksession verdict cache. */
  version: string
  current: string
  /** Decrypted only when the current key fails. */
  previous: () => string | undefined
}

interface KeyRow extends SessionState {
  identity_id: string
  user_id: string
  openid: string
  session_key_enc: string
  previous_session_key_enc: string | null
}

// WeChat's verdict on a stored session_key (checksession) is kept this long per
// identity and key, so a client looping on bad data cannot spend the app's quota.
const VERDICT_MEMORY_MS = 60_000

/**
 * The "sensitive data" routes: decrypt, verify rawData, phone number; each
 * updates the user it reads. Decrypted data fills profile fields only: an
 * identity link (unionId) is never taken from anything the client relays.
 */
export class UserDataService {
  private readonly verdicts: SingleFlight<boolean>

  constructor (private readonly deps: UserDataDeps) {
    this.verdicts = new SingleFlight<boolean>(VERDICT_MEMORY_MS, 10_000, deps.now)
  }

  async decrypt (claims: AccessClaims, encryptedData: string, iv: string): Promise<Record<string, unknown>> {
    const shape = checkSealedShape(encryptedData, iv)
    if (typeof shape === 'string') throw new EncryptedDataMalformed(shape)
    const keys = await this.sessionKeys(claims)
    const data = this.tryKeys(keys, encryptedData, iv) ?? await this.explainFailure(claims.appid, keys)
    this.checkWatermark(data.watermark, claims.appid)
    await this.apply(keys.userId, data)
    return data
  }

  async verify (claims: AccessClaims, rawData: string, signature: string): Promise<Record<string, unknown>> {
    const keys = await this.sessionKeys(claims)
    const candidates = [keys.current, keys.previous()].filter((k): k is string => k !== undefined)
    // Every candidate is compared, so timing does not tell which key (if any) matched.
    const matches = candidates.map((key) => rawDataSignatureMatches(rawData, key, signature))
    if (!matches.includes(true)) throw new SignatureInvalid()
    const parsed = parseJsonObject(rawData)
    if (parsed === undefined) throw new RawDataInvalid()
    const profile = profileFromWechat(parsed)
    if (profile !== undefined) await updateProfile(this.deps.db, keys.userId, profile)
    return parsed
  }

  async phone (claims: AccessClaims, code: string): Promise<PhoneFields> {
    // The session first: an ended session's token spends no phone code and no WeChat call.
    const { userId } = await this.deps.sessions.live(claims.sid)
    const info = await this.deps.accessTokens.withToken(claims.appid, (token) => this.deps.wechat.getUserPhoneNumber(token, code))
      .catch((error: { code?: string }) => {
        throw error.code === 'WECHAT_CODE_INVALID' || error.code === 'WECHAT_CODE_USED' ? new PhoneCodeInvalid() : error
      })
    this.checkWatermark(info.watermark, claims.appid)
    const phone = phoneFromWechat(info as unknown as Record<string, unknown>)!
    await updatePhone(this.deps.db, userId, phone)
    return phone
  }

  private async sessionKeys (claims: AccessClaims): Promise<SessionKeys> {
    const [row] = await this.deps.db.$queryRaw<KeyRow[]>`
      SELECT i.id::text AS identity_id, s.user_id::text AS user_id, i.openid, i.session_key_enc, i.previous_session_key_enc, ${SESSION_STATE}
      FROM sessions s JOIN wechat_identities i ON i.id = s.identity_id
      WHERE s.id = ${claims.sid}::uuid`
    assertLive(row)
    const { vault } = this.deps
    const { identity_id: identityId, session_key_enc: currentEnc, previous_session_key_enc: previousEnc } = row!
    return {
      identityId,
      userId: row!.user_id,
      openid: row!.openid,
      version: createHash('sha256').update(currentEnc).digest('base64url').slice(0, 16),
      current: vault.decrypt(currentEnc, identityId),
      previous: () => previousEnc === null ? undefined : vault.decrypt(previousEnc, identityId)
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
    const valid = await this.verdicts.run(`${keys.identityId}:${keys.version}`, () =>
      this.deps.accessTokens.withToken(appid, (token) => this.deps.wechat.checkSession(token, keys.openid, keys.current)))
    throw valid ? new EncryptedDataInvalid() : new SessionKeyStale()
  }

  private checkWatermark (watermark: Watermark, appid: string): void {
    if (watermark.appid !== appid) throw new WatermarkAppidMismatch()
    const max = this.deps.maxAgeSeconds
    const now = this.deps.now?.() ?? Date.now()
    if (max !== undefined && now / 1000 - watermark.timestamp > max) throw new WatermarkExpired(max)
  }

  private async apply (userId: string, data: DecryptedData): Promise<void> {
    const profile = profileFromWechat(data)
    if (profile !== undefined) await updateProfile(this.deps.db, userId, profile)
    const phone = phoneFromWechat(data)
    if (phone !== undefined) await updatePhone(this.deps.db, userId, phone)
  }
}
