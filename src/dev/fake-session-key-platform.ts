import { createHash, randomBytes } from 'node:crypto'
import { FakeServer, clientOf, newCode, type IssuedCode } from './fake-server.js'
import { DEMO_PHONE, sealForUser, signRawData, type FakePhone, type FakeProfile, type Sealed } from './fake-wechat-data.js'

// What the fake QQ, Douyin and Kuaishou share: apps with secrets, single-use
// login codes, a session_key per user that each login renews, union ids for
// bound apps, and the client side that seals user data and phone numbers with
// that key (WeChat's scheme, written apart from src/platforms/aes-cbc.ts so a
// round trip checks one implementation against the other). Each fake speaks
// its own protocol and error envelope on top.

export interface FakePlatformApp {
  appid: string
  secret: string
  /** The platform returns a union id for this app's users (QQ Connect, Douyin's developer, ...). */
  bound?: boolean
  /** Who owns the app, for platforms whose user ids are per developer (Kuaishou); the appid when absent. */
  developer?: string
}

/** Why a code is refused, for each fake to say in its own numbers. */
export type Redeemed = { app: FakePlatformApp, user: string } | 'unknown_app' | 'bad_secret' | 'bad_code' | 'used_code'

const CODE_TTL_MS = 5 * 60 * 1000

export const digest = (text: string): string => createHash('sha256').update(text).digest('hex')

export abstract class FakeSessionKeyPlatform extends FakeServer {
  protected readonly apps = new Map<string, FakePlatformApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly sessionKeys = new Map<string, string>()
  /** Whether data sealed by this platform's client carries a watermark by default. */
  protected abstract readonly watermarked: boolean
  /** Whether the platform returns union ids for an app not told otherwise. */
  protected abstract readonly boundByDefault: boolean

  constructor (apps: FakePlatformApp[], protected readonly now: () => number = Date.now) {
    super()
    for (const app of apps) this.apps.set(app.appid, { ...app })
  }

  /** The user's id as this platform writes it, from a stable seed. */
  protected abstract formatId (seed: string): string

  /** The mini-program's login call: a fresh single-use code and a new session_key for this user. */
  login (appid: string, user: string): { code: string, openid: string } {
    this.requireApp(appid)
    this.sessionKeys.set(`${appid}/${user}`, randomBytes(16).toString('base64'))
    return { code: this.issue(appid, user), openid: this.openid(appid, user) }
  }

  /** The user's id for this app: per app, or per developer when the app names one. */
  openid (appid: string, user: string): string {
    return this.formatId(`${this.requireApp(appid).developer ?? appid}/${user}`)
  }

  unionid (user: string): string {
    return this.formatId(`union/${user}`)
  }

  sessionKey (appid: string, user: string): string | undefined {
    return this.sessionKeys.get(`${appid}/${user}`)
  }

  /** From now on the platform returns union ids for this app's users. */
  bind (appid: string): void {
    this.requireApp(appid).bound = true
  }

  /** getUserInfo: the profile sealed with the user's session_key, and rawData signed. */
  userInfo (
    appid: string, user: string, profile: FakeProfile, options: { watermarkAppid?: string } = {}
  ): Sealed & { rawData: string, signature: string } {
    const sessionKey = this.requireSessionKey(appid, user)
    const rawData = JSON.stringify(profile)
    const payload = { openId: this.openid(appid, user), ...profile, ...this.watermark(appid, options.watermarkAppid) }
    return { ...sealForUser(sessionKey, payload), rawData, signature: signRawData(rawData, sessionKey) }
  }

  /** The getPhoneNumber button: the phone sealed with the user's session_key. */
  phoneData (appid: string, user: string, phone: Partial<FakePhone>, options: { watermarkAppid?: string } = {}): Sealed {
    return sealForUser(this.requireSessionKey(appid, user), { ...phone, ...this.watermark(appid, options.watermarkAppid) })
  }

  protected override clientSide (path: string, body: Record<string, unknown>): (() => unknown) | undefined {
    const { appid, user } = clientOf(body)
    const calls: Record<string, () => unknown> = {
      '/__fake/login': () => ({ code: this.login(appid, user).code }),
      '/__fake/checksession': () => ({ valid: this.sessionKey(appid, user) !== undefined }),
      '/__fake/user-info': () => this.userInfo(appid, user, (body.profile ?? { nickName: user }) as FakeProfile),
      '/__fake/phone': () => this.phoneData(appid, user, (body.phone ?? DEMO_PHONE) as FakePhone)
    }
    return calls[path]
  }

  /** A code the login call issued (Douyin issues two kinds). */
  protected issue (appid: string, user: string): string {
    const code = newCode()
    this.codes.set(code, { appid, user, issuedAt: this.now(), used: false })
    return code
  }

  /** The checks every platform makes before a code buys a session, in the order WeChat makes them. */
  protected redeem (appid: unknown, secret: unknown, code: unknown, codes = this.codes): Redeemed {
    const app = this.apps.get(String(appid ?? ''))
    if (app === undefined) return 'unknown_app'
    if (secret !== app.secret) return 'bad_secret'
    const issued = codes.get(String(code ?? ''))
    if (issued === undefined || issued.appid !== app.appid || this.now() - issued.issuedAt > CODE_TTL_MS) return 'bad_code'
    if (issued.used) return 'used_code'
    issued.used = true
    return { app, user: issued.user }
  }

  protected bound (app: FakePlatformApp): boolean {
    return app.bound ?? this.boundByDefault
  }

  private watermark (appid: string, watermarkAppid: string | undefined): { watermark?: { appid: string, timestamp: number } } {
    if (!this.watermarked && watermarkAppid === undefined) return {}
    return { watermark: { appid: watermarkAppid ?? appid, timestamp: Math.floor(this.now() / 1000) } }
  }

  private requireApp (appid: string): FakePlatformApp {
    const app = this.apps.get(appid)
    if (app === undefined) throw new Error(`unknown app ${appid}`)
    return app
  }

  private requireSessionKey (appid: string, user: string): string {
    const key = this.sessionKey(appid, user)
    if (key === undefined) throw new Error(`${user} never logged in to ${appid}`)
    return key
  }
}
