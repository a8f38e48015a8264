import { createHash, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FakeServer, newCode, readJson, type IssuedCode } from './fake-server.js'
import { DEMO_PHONE, checkSessionSignature, sealForUser, signRawData, type FakePhone, type FakeProfile, type Sealed } from './fake-wechat-data.js'

export type { Fault, Held, PathHold } from './fake-server.js'

/**
 * A stand-in for api.weixin.qq.com that speaks its protocol, error codes
 * included, for tests and the zero-config demo. It also plays the mini-program
 * side (`wx.login()`), which the real WeChat does inside the client.
 */

export interface FakeApp {
  appid: string
  secret: string
  /** Bound to an Open Platform account: WeChat then returns unionid. Default true. */
  bound?: boolean
}

interface AppUser {
  appid: string
  user: string
  sessionKey: string
  /** WeChat ended the client's login state: wx.checkSession fails until the next wx.login. */
  expired?: boolean
}

interface PhoneCode {
  appid: string
  phone: FakePhone
  used: boolean
}

const ACCESS_TOKEN_TTL_SECONDS = 7200

const CODE_TTL_MS = 5 * 60 * 1000
const RATE_LIMIT_PER_MINUTE = 100

const ERRMSG: Record<number, string> = {
  [-1]: 'system error',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  40001: 'invalid credential, access_token is invalid or not latest',
  40226: 'high risk user',
  47001: 'data format error',
  87009: 'invalid signature',
  45011: 'api minute-quota reach limit mustslower retry next minute'
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url')

export class FakeWechat extends FakeServer {
  private readonly apps = new Map<string, FakeApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly users = new Map<string, AppUser>()
  private readonly byOpenid = new Map<string, AppUser>()
  private readonly phoneCodes = new Map<string, PhoneCode>()
  private readonly accessTokens = new Map<string, string>()
  private readonly blocked = new Set<string>()
  private readonly recentCalls = new Map<string, number[]>()

  constructor (apps: FakeApp[], private readonly now: () => number = Date.now) {
    super()
    for (const app of apps) this.apps.set(app.appid, { ...app })
  }

  /**
   * The mini-program calls wx.login(): a fresh single-use code, and a new
   * session_key for this user. With `sameSessionKey` the user's session_key
   * stays as it is (WeChat may keep it while the login state is live).
   */
  login (appid: string, user: string, { sameSessionKey = false } = {}): { code: string, openid: string } {
    if (!sameSessionKey || !this.users.has(`${appid}/${user}`)) this.rotateSessionKey(appid, user)
    const code = newCode()
    this.codes.set(code, { appid, user, issuedAt: this.now(), used: false })
    return { code, openid: this.openid(appid, user) }
  }

  openid (appid: string, user: string): string {
    return `o${digest(`${appid}/${user}`).slice(0, 27)}`
  }

  unionid (user: string): string {
    return `u${digest(`union/${user}`).slice(0, 27)}`
  }

  sessionKey (appid: string, user: string): string | undefined {
    return this.users.get(`${appid}/${user}`)?.sessionKey
  }

  private rotateSessionKey (appid: string, user: string): AppUser {
    const entry = { appid, user, sessionKey: randomBytes(16).toString('base64') }
    this.users.set(`${appid}/${user}`, entry)
    this.byOpenid.set(this.openid(appid, user), entry)
    return entry
  }

  /** wx.getUserProfile / getUserInfo: the profile sealed with the current session_key, and rawData signed. */
  userInfo (
    appid: string, user: string, profile: FakeProfile, { watermarkAppid = appid, unionId = this.apps.get(appid)?.bound !== false } = {}
  ): Sealed & { rawData: string, signature: string } {
    const { sessionKey } = this.requireUser(appid, user)
    const rawData = JSON.stringify(profile)
    const payload = {
      openId: this.openid(appid, user),
      ...profile,
      ...(unionId ? { unionId: this.unionid(user) } : {}),
      watermark: this.watermark(watermarkAppid)
    }
    return { ...sealForUser(sessionKey, payload), rawData, signature: signRawData(rawData, sessionKey) }
  }

  /** The old getPhoneNumber button: the phone sealed with the current session_key. */
  phoneData (appid: string, user: string, phone: FakePhone): Sealed {
    return sealForUser(this.requireUser(appid, user).sessionKey, { ...phone, watermark: this.watermark(appid) })
  }

  /** The new getPhoneNumber button: a single-use code for wxa/business/getuserphonenumber. */
  phoneCode (appid: string, phone: FakePhone): string {
    const code = randomBytes(16).toString('hex')
    this.phoneCodes.set(code, { appid, phone, used: false })
    return code
  }

  /**
   * WeChat ends the user's login state, as it does after long inactivity:
   * wx.checkSession fails and the session_key the developer's server holds no
   * longer passes wxa/checksession, until the next wx.login().
   */
  expireSession (appid: string, user: string): void {
    this.requireUser(appid, user)
    this.rotateSessionKey(appid, user).expired = true
  }

  /** What wx.checkSession asks WeChat from inside the client. */
  sessionValid (appid: string, user: string): boolean {
    const entry = this.users.get(`${appid}/${user}`)
    return entry !== undefined && entry.expired !== true
  }

  /** As if another server force-refreshed: the current access_token stops working (40001). */
  invalidateAccessToken (appid: string): void {
    this.accessTokens.delete(appid)
  }

  private watermark (appid: string): { appid: string, timestamp: number } {
    return { appid, timestamp: Math.floor(this.now() / 1000) }
  }

  private requireUser (appid: string, user: string): AppUser {
    const entry = this.users.get(`${appid}/${user}`)
    if (entry === undefined) throw new Error(`${user} never called wx.login in ${appid}`)
    return entry
  }

  /** The app is bound to an Open Platform account from now on: jscode2session starts returning unionid. */
  bind (appid: string): void {
    const app = this.apps.get(appid)
    if (app === undefined) throw new Error(`unknown app ${appid}`)
    app.bound = true
  }

  /** WeChat's risk control refuses this user (errcode 40226). */
  block (user: string): void {
    this.blocked.add(user)
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (url.pathname === '/sns/jscode2session' && req.method === 'GET') return this.answer(res, 200, this.jscode2session(url.searchParams))
    if (url.pathname === '/cgi-bin/stable_token' && req.method === 'POST') return this.answer(res, 200, this.stableToken(await readJson(req)))
    const tokenApp = this.appOfToken(url.searchParams.get('access_token'))
    if (tokenApp === undefined) return this.answer(res, 200, this.error(40001))
    if (url.pathname === '/wxa/business/getuserphonenumber' && req.method === 'POST') return this.answer(res, 200, this.userPhoneNumber(tokenApp, await readJson(req)))
    if (url.pathname === '/wxa/checksession' && req.method === 'GET') return this.answer(res, 200, this.checkSession(tokenApp, url.searchParams))
    if (url.pathname === '/wxa/resetusersessionkey' && req.method === 'GET') return this.answer(res, 200, this.resetSessionKey(tokenApp, url.searchParams))
    this.answer(res, 404, { errcode: 404, errmsg: 'not found' })
  }

  private jscode2session (params: URLSearchParams): object {
    const app = this.apps.get(params.get('appid') ?? '')
    if (app === undefined) return this.error(40013)
    if (params.get('secret') !== app.secret) return this.error(40125)
    if (params.get('grant_type') !== 'authorization_code') return this.error(40002)
    const issued = this.codes.get(params.get('js_code') ?? '')
    if (issued === undefined || issued.appid !== app.appid || this.now() - issued.issuedAt > CODE_TTL_MS) return this.error(40029)
    if (issued.used) return this.error(40163)
    if (this.blocked.has(issued.user)) return this.error(40226)
    if (!this.withinRate(`${app.appid}/${issued.user}`)) return this.error(45011)
    issued.used = true
    const user = this.requireUser(app.appid, issued.user)
    // Like WeChat, a success carries no errcode at all.
    return {
      session_key: user.sessionKey,
      openid: this.openid(app.appid, issued.user),
      ...(app.bound === false ? {} : { unionid: this.unionid(issued.user) })
    }
  }

  /** Normal mode: the same token until it expires; force_refresh replaces it. */
  private stableToken (body: Record<string, unknown>): object {
    const app = this.apps.get(String(body.appid ?? ''))
    if (app === undefined) return this.error(40013)
    if (body.secret !== app.secret) return this.error(40125)
    if (body.grant_type !== 'client_credential') return this.error(40002)
    let token = this.accessTokens.get(app.appid)
    if (token === undefined || body.force_refresh === true) {
      token = `AT_${randomBytes(48).toString('base64url')}`
      this.accessTokens.set(app.appid, token)
    }
    return { access_token: token, expires_in: ACCESS_TOKEN_TTL_SECONDS }
  }

  private appOfToken (token: string | null): string | undefined {
    for (const [appid, current] of this.accessTokens) if (current === token) return appid
    return undefined
  }

  private userPhoneNumber (appid: string, body: Record<string, unknown>): object {
    const issued = this.phoneCodes.get(String(body.code ?? ''))
    if (issued === undefined || issued.appid !== appid) return this.error(40029)
    if (issued.used) return this.error(40163)
    issued.used = true
    return { errcode: 0, errmsg: 'ok', phone_info: { ...issued.phone, watermark: this.watermark(appid) } }
  }

  private identified (appid: string, params: URLSearchParams): AppUser | object {
    const entry = this.byOpenid.get(params.get('openid') ?? '')
    if (entry === undefined || entry.appid !== appid) return this.error(40003)
    if (params.get('sig_method') !== 'hmac_sha256' || params.get('signature') !== checkSessionSignature(entry.sessionKey)) return this.error(87009)
    return entry
  }

  private checkSession (appid: string, params: URLSearchParams): object {
    const entry = this.identified(appid, params)
    return 'errcode' in entry ? entry : { errcode: 0, errmsg: 'ok' }
  }

  private resetSessionKey (appid: string, params: URLSearchParams): object {
    const entry = this.identified(appid, params)
    if ('errcode' in entry) return entry
    const next = this.rotateSessionKey(appid, (entry as AppUser).user)
    return { errcode: 0, errmsg: 'ok', openid: this.openid(appid, next.user), session_key: next.sessionKey }
  }

  private withinRate (key: string): boolean {
    const since = this.now() - 60_000
    const recent = (this.recentCalls.get(key) ?? []).filter((t) => t > since)
    recent.push(this.now())
    this.recentCalls.set(key, recent)
    return recent.length <= RATE_LIMIT_PER_MINUTE
  }

  /**
   * The client side over HTTP, for a wx runtime simulated in another process
   * (the demo): wx.login, wx.checkSession, the sealed user info of
   * wx.getUserProfile, and the getPhoneNumber button's code.
   */
  protected override control (path: string, body: Record<string, unknown>, res: ServerResponse): void {
    const appid = String(body.appid ?? [...this.apps.keys()][0])
    const user = String(body.user ?? 'demo-user')
    const client: Record<string, (() => unknown) | undefined> = {
      '/__fake/login': () => this.login(appid, user),
      '/__fake/checksession': () => ({ valid: this.sessionValid(appid, user) }),
      '/__fake/user-info': () => this.users.has(`${appid}/${user}`) ? this.userInfo(appid, user, (body.profile ?? { nickName: user }) as FakeProfile) : undefined,
      '/__fake/phone-code': () => ({ code: this.phoneCode(appid, (body.phone ?? DEMO_PHONE) as FakePhone) })
    }
    const clientCall = client[path]
    if (clientCall !== undefined) {
      if (!this.apps.has(appid)) return this.answer(res, 400, this.error(40013))
      const result = clientCall()
      return result === undefined ? this.answer(res, 400, { errcode: 40003, errmsg: `${user} never called wx.login` }) : this.answer(res, 200, result)
    }
    super.control(path, body, res)
  }

  protected error (errcode: number): { errcode: number, errmsg: string } {
    return { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'}, rid: ${randomBytes(6).toString('hex')}` }
  }
}
