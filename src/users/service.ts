import { createHash } from 'node:crypto'
import type { App, Platform, WechatApp } from '../config/index.js'
import {
  AppUnknown, EncryptedDataInvalid, EncryptedDataMalformed, PhoneCodeInvalid, RawDataInvalid, SchemeUnsupported, SessionKeyAbsent,
  SessionKeyStale, SessionKeyUnreadable, SignatureInvalid, WatermarkAppidMismatch, WatermarkExpired
} from '../errors.js'
import { DecryptFailure, PlatformRefusal } from '../platforms/adapter.js'
import { watermarkOf, type Sealed } from '../platforms/aes-cbc.js'
import type { AlipaySealedPhone } from '../platforms/alipay-crypto.js'
import type { AccessClaims } from '../sessions/claims.js'
import type { SessionRepository } from '../sessions/repository.js'
import { SingleFlight } from '../single-flight.js'
import type { WechatAppTokens } from '../wechat/app-token.js'
import type { WechatClient } from '../wechat/client.js'
import { DataDecryptError, checkSealedShape, decryptData, parseJsonObject, rawDataSignatureMatches, type DecryptedData, type Watermark } from '../wechat/data-crypto.js'
import { WechatApiError } from '../wechat/errors.js'
import { wechatRefusal } from '../wechat/refusal.js'
import { PLATFORM_NAMES, phoneFields, phoneScheme, type DataAdapters, type PhoneInput, type PlatformApp } from './platform-data.js'
import { phoneFromWechat, profileFromWechat, type PhoneFields, type ProfileView } from './profile.js'
import type { StoredSessionKeys, UserRepository } from './repository.js'
import type { SessionKeyVault } from './session-key-vault.js'

export interface UserServiceDeps {
  apps: WechatApp[]
  /** Every app of every platform (config.apps): its platform decides how its sessions' data is read. */
  platformApps: App[]
  adapters: DataAdapters
  users: UserRepository
  sessions: Pick<SessionRepository, 'live'>
  vault: SessionKeyVault
  wechat: Pick<WechatClient, 'checkSession' | 'getUserPhoneNumber'>
  appTokens: Pick<WechatAppTokens, 'withToken'>
  /**
   * Which user an Alipay phone payload was stored for (the login grants' cache: Redis when shared). The payload
   * names no user, and Alipay seals it with a zero IV: it is the same text for one number every time.
   */
  spentPayloads: {
    claim: (ref: { id: string, key: () => Buffer }, ttlMs: number) => Promise<boolean>
    get: (ref: { id: string, key: () => Buffer }) => Promise<unknown>
  }
  /** DECRYPT_MAX_AGE_SECONDS: refuse data whose watermark is older. */
  maxAgeSeconds?: number
  now: () => number
}

interface SessionKeys {
  identityId: string
  userId: string
  /** The platform's name for the user (a WeChat openid here: checksession takes it). */
  subject: string
  /** Changes whenever the stored key is rewritten: names this key in the checksession verdict cache. */
  version: string
  current: string
  /** Decrypted only when the current key fails. */
  previous: () => string | undefined
}

// WeChat's verdict on a stored session_key (checksession) is kept this long per
// identity and key, so a client looping on bad data cannot spend the app's quota.
const VERDICT_MEMORY_MS = 60_000
// An Alipay phone payload carries no time: it stays spent this long (a day), in the login grants' cache.
const ALIPAY_PAYLOAD_MEMORY_MS = 24 * 3600_000

/** What getuserphonenumber's errcodes mean to the phone route. */
function phoneFailure (error: unknown): unknown {
  if (error instanceof WechatApiError && (error.errcode === 40029 || error.errcode === 40163)) {
    return new PhoneCodeInvalid({ detail: { errcode: error.errcode } })
  }
  return wechatRefusal(error)
}

/**
 * The signed-in user: the profile, and the "sensitive data" routes (decrypt,
 * verify rawData, phone number), each of which updates the user it reads.
 * Decrypted data fills self-declared profile fields only: an identity link
 * (unionId) or a phone number is never taken from anything the client relays.
 */
export class UserService {
  private readonly verdicts: SingleFlight<boolean>
  private readonly apps: Map<string, WechatApp>
  private readonly platformApps: Map<string, PlatformApp>

  constructor (private readonly deps: UserServiceDeps) {
    this.verdicts = new SingleFlight<boolean>(VERDICT_MEMORY_MS, 10_000, deps.now)
    this.apps = new Map(deps.apps.map((app) => [app.appid, app]))
    this.platformApps = new Map(deps.platformApps.filter((app): app is PlatformApp => app.platform !== 'wechat').map((app) => [app.appid, app]))
  }

  async profile (claims: AccessClaims): Promise<ProfileView> {
    return this.deps.users.profile(claims.sid)
  }

  async decrypt (claims: AccessClaims, encryptedData: string, iv: string): Promise<Record<string, unknown>> {
    const other = this.platformApps.get(claims.appid)
    if (other !== undefined) return this.decryptOnPlatform(claims, other, { encryptedData, iv })
    const shape = checkSealedShape(encryptedData, iv)
    if (typeof shape === 'string') throw new EncryptedDataMalformed(shape)
    const keys = await this.keysOf(claims, this.platformOf(claims))
    const failures: string[] = []
    const data = this.tryKeys(keys, encryptedData, iv, failures) ?? await this.explainFailure(claims, keys, failures)
    this.checkWatermark(data.watermark, claims.appid)
    await this.apply(keys.userId, data)
    return data
  }

  async verify (claims: AccessClaims, rawData: string, signature: string): Promise<Record<string, unknown>> {
    const platform = this.platformOf(claims)
    // Only the platforms of WeChat's scheme sign rawData with the session key.
    if (platform === 'baidu' || platform === 'alipay') {
      throw new SchemeUnsupported(PLATFORM_NAMES[platform], 'rawData signature', 'send { encryptedData, iv } to /v1/auth/decrypt where the platform has it')
    }
    const keys = await this.keysOf(claims, platform)
    const candidates = [keys.current, keys.previous()].filter((k): k is string => k !== undefined)
    // Every candidate is compared, so timing does not tell which key (if any) matched.
    const matches = candidates.map((key) => rawDataSignatureMatches(rawData, key, signature))
    if (!matches.includes(true)) throw new SignatureInvalid()
    const parsed = parseJsonObject(rawData)
    if (parsed === undefined) throw new RawDataInvalid()
    const profile = profileFromWechat(parsed)
    if (profile !== undefined) await this.deps.users.updateProfile(keys.userId, profile)
    return parsed
  }

  /** The phone number, by the scheme the session's platform has (docs/api.md); only a number its platform vouched for is stored. */
  async phone (claims: AccessClaims, body: PhoneInput): Promise<PhoneFields> {
    const other = this.platformApps.get(claims.appid)
    const scheme = phoneScheme(other?.platform ?? 'wechat', body)
    if (other === undefined) return this.wechatPhone(claims, (body as { code: string }).code)
    if (other.platform === 'alipay') return this.alipayPhone(claims, other, body as AlipaySealedPhone)
    if (scheme !== 'sealed' || other.platform === 'qq') throw new Error(`no ${scheme} phone scheme on ${other.platform}`)
    const sealed = body as Sealed
    const keys = await this.platformKeys(claims, other, sealed)
    const adapter = this.deps.adapters[other.platform]
    // Sealed with the session key, but AES-CBC has no MAC: the number is the client's to read,
    // never stored as the user's (as on WeChat's decrypt).
    return phoneFields(this.openWithKeys(keys, (key) => adapter.phone(other as never, key, sealed)))
  }

  private async wechatPhone (claims: AccessClaims, code: string): Promise<PhoneFields> {
    // The session first: an ended session's token spends no phone code and no WeChat call.
    const { userId } = await this.deps.sessions.live(claims.sid)
    const info = await this.deps.appTokens.withToken(this.app(claims), (token) => this.deps.wechat.getUserPhoneNumber(token, code))
      .catch((error: unknown) => { throw phoneFailure(error) })
    this.checkWatermark(info.watermark, claims.appid)
    const phone = phoneFromWechat(info as unknown as Record<string, unknown>)!
    await this.deps.users.updatePhone(userId, phone)
    return phone
  }

  /** QQ, Douyin, Kuaishou, Baidu: the adapter opens it with the session key (the previous one as a second chance). */
  private async decryptOnPlatform (claims: AccessClaims, app: PlatformApp, sealed: Sealed): Promise<Record<string, unknown>> {
    if (app.platform === 'alipay') throw new SessionKeyAbsent()
    const keys = await this.platformKeys(claims, app, sealed)
    const adapter = this.deps.adapters[app.platform]
    const data = this.openWithKeys(keys, (key) => adapter.decrypt(app as never, key, sealed))
    const watermark = watermarkOf(data)
    // The adapter checked whose app it names; its age is checked as on WeChat, where there is one.
    if (watermark !== undefined) this.checkWatermark(watermark, watermark.appid)
    await this.apply(keys.userId, data)
    return data
  }

  /** The shape first (safe to name), then this session's keys, whose identity must be of the app's platform. */
  private async platformKeys (claims: AccessClaims, app: PlatformApp, sealed: Sealed): Promise<SessionKeys> {
    const shape = checkSealedShape(sealed.encryptedData, sealed.iv)
    if (typeof shape === 'string') throw new EncryptedDataMalformed(shape)
    return this.keysOf(claims, app.platform)
  }

  /** The platform of the token's app; a token signed for an app since removed from the configuration is refused. */
  private platformOf (claims: AccessClaims): Platform {
    const platform = this.platformApps.get(claims.appid)?.platform ?? (this.apps.has(claims.appid) ? 'wechat' : undefined)
    if (platform === undefined) throw new AppUnknown(claims.appid)
    return platform
  }

  /**
   * This session's keys, only when its identity is of `platform`, its app's: an appid since moved to another platform
   * in the configuration must not open (or ask WeChat about) a key another platform issued.
   */
  private async keysOf (claims: AccessClaims, platform: Platform): Promise<SessionKeys> {
    const stored = await this.deps.users.sessionKeys(claims.sid)
    if (stored.platform !== platform) throw new AppUnknown(claims.appid)
    return this.sessionKeys(stored)
  }

  /**
   * The current key, then the previous one. Every failure that took a key is
   * one answer, ENCRYPTED_DATA_INVALID (no padding oracle). A watermark naming
   * another app is told apart, as on WeChat: it needs a whole JSON object with
   * a watermark to open, the very condition under which the route answers the
   * plaintext itself, so it tells a client nothing a 200 would not.
   */
  private openWithKeys<T> (keys: SessionKeys, open: (sessionKey: string) => T): T {
    const failures: string[] = []
    for (const [name, key] of [['current', () => keys.current], ['previous', keys.previous]] as const) {
      const sessionKey = key()
      if (sessionKey === undefined) continue
      try {
        return open(sessionKey)
      } catch (error) {
        if (!(error instanceof DecryptFailure)) throw error
        if (error.kind === 'wrong_app') throw new WatermarkAppidMismatch()
        failures.push(`${name}: ${error.detail}`)
      }
    }
    throw new EncryptedDataInvalid({ detail: { decryptFailures: failures } })
  }

  /** my.getPhoneNumber's payload, in a live session: Alipay's signature, then the app's AES key. Signed, so stored. */
  private async alipayPhone (claims: AccessClaims, app: Extract<PlatformApp, { platform: 'alipay' }>, sealed: AlipaySealedPhone): Promise<PhoneFields> {
    const { userId } = await this.deps.sessions.live(claims.sid)
    let phone
    try {
      phone = phoneFields(this.deps.adapters.alipay.phone(app, sealed))
    } catch (error) {
      if (error instanceof DecryptFailure) throw error.kind === 'malformed' ? new EncryptedDataMalformed('response must be base64 and sign_type RSA2') : new EncryptedDataInvalid({ detail: { reason: error.detail } })
      // Alipay's own refusal, signed: the user or the app may not read the number.
      if (error instanceof PlatformRefusal) throw new PhoneCodeInvalid({ detail: { kind: error.kind, upstream: error.upstream } })
      throw error
    }
    // Verified, so only Alipay's own payloads take a slot: the first user to present one holds it; another is refused.
    const ref = (...parts: string[]) => ({ id: createHash('sha256').update(['weapp-auth/alipay-phone', app.appid, sealed.response, ...parts].join('\0')).digest('base64url'), key: () => Buffer.alloc(0) })
    const spent = this.deps.spentPayloads
    const mine = await spent.get(ref(userId)) !== undefined
    if (!mine && !await spent.claim(ref(), ALIPAY_PAYLOAD_MEMORY_MS)) throw new PhoneCodeInvalid({ detail: { reason: 'alipay phone payload used by another user' } })
    if (!mine) await spent.claim(ref(userId), ALIPAY_PAYLOAD_MEMORY_MS)
    await this.deps.users.updatePhone(userId, phone)
    return phone
  }

  private app (claims: AccessClaims): WechatApp {
    const app = this.apps.get(claims.appid)
    // A token signed for an app since removed from the configuration.
    if (app === undefined) throw new AppUnknown(claims.appid)
    return app
  }

  private sessionKeys (stored: StoredSessionKeys): SessionKeys {
    const { currentEnc } = stored
    if (currentEnc === null) throw new SessionKeyAbsent()
    return {
      identityId: stored.identityId,
      userId: stored.userId,
      subject: stored.subject,
      version: createHash('sha256').update(currentEnc).digest('base64url').slice(0, 16),
      current: this.open(stored, currentEnc),
      previous: () => stored.previousEnc === null ? undefined : this.openQuietly(stored, stored.previousEnc)
    }
  }

  /** The current key must open: if no configured key does (a dropped encryption key, a restore), the client logs in again. */
  private open (stored: StoredSessionKeys, ciphertext: string): string {
    try {
      return this.deps.vault.decrypt(ciphertext, stored.identityId)
    } catch (error) {
      throw new SessionKeyUnreadable({
        detail: { identityId: stored.identityId, reason: error instanceof Error ? error.message : String(error) }
      })
    }
  }

  /** The previous key is a second chance only: unreadable, it is simply not tried. */
  private openQuietly (stored: StoredSessionKeys, ciphertext: string): string | undefined {
    try { return this.deps.vault.decrypt(ciphertext, stored.identityId) } catch { return undefined }
  }

  /** The current session_key first, then the previous one (data fetched before the latest wx.login). */
  private tryKeys (keys: SessionKeys, encryptedData: string, iv: string, failures: string[]): DecryptedData | undefined {
    for (const [name, key] of [['current', () => keys.current], ['previous', keys.previous]] as const) {
      const sessionKey = key()
      if (sessionKey === undefined) continue
      try {
        return decryptData(sessionKey, encryptedData, iv)
      } catch (error) {
        // For the log only: the client sees one uniform answer (no padding oracle).
        if (error instanceof DataDecryptError) failures.push(`${name}: ${error.message}`)
      }
    }
    return undefined
  }

  /** Neither key opens it: WeChat says whether our session_key is outdated (stale) or the data is bad. */
  private async explainFailure (claims: AccessClaims, keys: SessionKeys, failures: string[]): Promise<never> {
    const valid = await this.verdicts.run(`${keys.identityId}:${keys.version}`, () =>
      this.deps.appTokens.withToken(this.app(claims), (token) => this.deps.wechat.checkSession(token, keys.subject, keys.current))
        .catch((error: unknown) => { throw wechatRefusal(error) }))
    const context = { detail: { decryptFailures: failures } }
    throw valid ? new EncryptedDataInvalid(context) : new SessionKeyStale(context)
  }

  private checkWatermark (watermark: Watermark, appid: string): void {
    if (watermark.appid !== appid) throw new WatermarkAppidMismatch()
    const max = this.deps.maxAgeSeconds
    if (max !== undefined && this.deps.now() / 1000 - watermark.timestamp > max) throw new WatermarkExpired(max)
  }

  /**
   * Profile fields the user chose anyway (nickname, avatar...) are stored. A
   * phone number is not: AES-CBC has no MAC, and a client can splice blocks of
   * its own ciphertexts into a number WeChat never vouched for. Only the phone
   * route, server to WeChat, stores one.
   */
  private async apply (userId: string, data: Record<string, unknown>): Promise<void> {
    const profile = profileFromWechat(data)
    if (profile !== undefined) await this.deps.users.updateProfile(userId, profile)
  }
}
