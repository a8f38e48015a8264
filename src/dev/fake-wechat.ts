import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { checkSessionSignature, sealForUser, signRawData, type FakePhone, type FakeProfile, type Sealed } from './fake-wechat-data.js'

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

export interface Fault {
  /** Wait before answering (or before failing). */
  delayMs?: number
  /** Answer with this HTTP status and an HTML body, as a gateway would. */
  status?: number
  /** Answer 200 with a body that is not JSON. */
  malformed?: boolean
  /** Destroy the connection without an answer. */
  reset?: boolean
  /** Answer with this WeChat errcode (-1 busy, 45011 too frequent, ...). */
  errcode?: number
  /** Answer 200 with exactly this JSON value (a WeChat that lies: fields missing, null, an array...). */
  body?: unknown
  /** How many requests the fault applies to; unlimited when absent. */
  times?: number
  /** Only requests to this WeChat path (e.g. '/wxa/checksession'); every path when absent. */
  path?: string
}

/** A request the fake keeps unanswered until the test says so (see FakeWechat.holdNext). */
export interface PathHold {
  /** Resolves when the held request has arrived. */
  reached: Promise<void>
  /** Lets the held request go on to be answered as usual (faults included). */
  release: () => void
}

interface IssuedCode {
  appid: string
  user: string
  issuedAt: number
  used: boolean
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

/** Answers held by `FakeWechat.hold()`: the test learns when they arrived and says when they go. */
export interface Held {
  /** Resolves once `count` requests are waiting. */
  arrived: Promise<void>
  /** Let them be answered (as they would have been, faults included). */
  release: () => void
}

interface Hold { count: number, waiting: number, arrive: () => void, released: Promise<void>, release: () => void }

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

export class FakeWechat {
  private server?: Server
  private readonly apps = new Map<string, FakeApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly users = new Map<string, AppUser>()
  private readonly byOpenid = new Map<string, AppUser>()
  private readonly phoneCodes = new Map<string, PhoneCode>()
  private readonly accessTokens = new Map<string, string>()
  private readonly blocked = new Set<string>()
  private readonly recentCalls = new Map<string, number[]>()
  private fault?: Fault
  private readonly holds: Hold[] = []
  private readonly pathHolds = new Map<string, { arrived: () => void, gate: Promise<void> }>()
  /** Releases of every hold not yet released, so close() lets held requests end. */
  private readonly pendingReleases = new Set<() => void>()
  /** Requests received per WeChat path (the fake's own /__fake paths are not counted). */
  readonly calls = new Map<string, number>()
  url = ''

  constructor (apps: FakeApp[], private readonly now: () => number = Date.now) {
    for (const app of apps) this.apps.set(app.appid, { ...app })
  }

  async listen (port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => { this.handle(req, res).catch((error) => this.answer(res, 500, { error: String(error) })) })
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve))
    const { port: bound } = this.server.address() as AddressInfo
    this.url = `http://${host}:${bound}`
    return this.url
  }

  async close (): Promise<void> {
    for (const hold of this.holds.splice(0)) hold.release()
    for (const release of this.pendingReleases) release()
    this.pendingReleases.clear()
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }

  /**
   * The mini-program calls wx.login(): a fresh single-use code, and a new
   * session_key for this user. With `sameSessionKey` the user's session_key
   * stays as it is (WeChat may keep it while the login state is live).
   */
  login (appid: string, user: string, { sameSessionKey = false } = {}): { code: string, openid: string } {
    if (!sameSessionKey || !this.users.has(`${appid}/${user}`)) this.rotateSessionKey(appid, user)
    const code = randomBytes(24).toString('base64url')
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
  userInfo (appid: string, user: string, profile: FakeProfile, { watermarkAppid = appid, unionId = this.apps.get(appid)?.bound !== false } = {}): Sealed & { rawData: string, signature: string } {
    const { sessionKey } = this.requireUser(appid, user)
    const rawData = JSON.stringify(profile)
    const payload = { openId: this.openid(appid, user), ...profile, ...(unionId ? { unionId: this.unionid(user) } : {}), watermark: this.watermark(watermarkAppid) }
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

  setFault (fault: Fault | undefined): void {
    this.fault = fault
  }

  /**
   * Hold the next `count` WeChat requests unanswered until `release()`: a test
   * waits for `arrived` (an event) instead of guessing a delay.
   */
  hold (count = 1): Held {
    let arrive!: () => void
    let release!: () => void
    const arrived = new Promise<void>((resolve) => { arrive = resolve })
    const released = new Promise<void>((resolve) => { release = resolve })
    this.holds.push({ count, waiting: 0, arrive, released, release })
    return { arrived, release }
  }

  /**
   * The next request to this WeChat path waits, unanswered, until `release()`:
   * a test can act while a caller is known to be inside that call. One request
   * only; later ones are answered at once.
   */
  holdNext (path: string): PathHold {
    let arrived!: () => void
    let release!: () => void
    const reached = new Promise<void>((resolve) => { arrived = resolve })
    const gate = new Promise<void>((resolve) => { release = resolve })
    this.pathHolds.set(path, { arrived, gate })
    this.pendingReleases.add(release)
    return { reached, release: () => { this.pendingReleases.delete(release); release() } }
  }

  callCount (path: string): number {
    return this.calls.get(path) ?? 0
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    if (url.pathname.startsWith('/__fake/')) return this.control(url.pathname, await readJson(req), res)
    this.calls.set(url.pathname, this.callCount(url.pathname) + 1)
    const hold = this.holds.find((h) => h.waiting < h.count)
    if (hold !== undefined) {
      if (++hold.waiting === hold.count) hold.arrive()
      await hold.released
    }
    const held = this.pathHolds.get(url.pathname)
    if (held !== undefined) {
      this.pathHolds.delete(url.pathname)
      held.arrived()
      await held.gate
    }
    if (await this.applyFault(res, url.pathname)) return
    if (url.pathname === '/sns/jscode2session' && req.method === 'GET') return this.answer(res, 200, this.jscode2session(url.searchParams))
    if (url.pathname === '/cgi-bin/stable_token' && req.method === 'POST') return this.answer(res, 200, this.stableToken(await readJson(req)))
    const tokenApp = this.appOfToken(url.searchParams.get('access_token'))
    if (tokenApp === undefined) return this.answer(res, 200, this.error(40001))
    if (url.pathname === '/wxa/business/getuserphonenumber' && req.method === 'POST') return this.answer(res, 200, this.userPhoneNumber(tokenApp, await readJson(req)))
    if (url.pathname === '/wxa/checksession' && req.method === 'GET') return this.answer(res, 200, this.checkSession(tokenApp, url.searchParams))
    if (url.pathname === '/wxa/resetusersessionkey' && req.method === 'GET') return this.answer(res, 200, this.resetSessionKey(tokenApp, url.searchParams))
    this.answer(res, 404, { errcode: 404, errmsg: 'not found' })
  }

  private async applyFault (res: ServerResponse, path: string): Promise<boolean> {
    const fault = this.fault
    if (fault === undefined || (fault.path !== undefined && fault.path !== path)) return false
    if (fault.times !== undefined && --fault.times <= 0) this.fault = undefined
    if (fault.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
    if (res.destroyed) return true
    if (fault.reset === true) { res.socket?.destroy(); return true }
    if (fault.status !== undefined) { res.writeHead(fault.status, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'); return true }
    if (fault.malformed === true) { res.writeHead(200, { 'content-type': 'text/plain' }).end('{"openid": "trunc'); return true }
    if (fault.errcode !== undefined) { this.answer(res, 200, this.error(fault.errcode)); return true }
    if ('body' in fault) { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fault.body)); return true }
    return false
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
  private control (path: string, body: Record<string, unknown>, res: ServerResponse): void {
    const appid = String(body.appid ?? [...this.apps.keys()][0])
    const user = String(body.user ?? 'demo-user')
    const client: Record<string, (() => unknown) | undefined> = {
      '/__fake/login': () => this.login(appid, user),
      '/__fake/checksession': () => ({ valid: this.sessionValid(appid, user) }),
      '/__fake/user-info': () => this.users.has(`${appid}/${user}`) ? this.userInfo(appid, user, (body.profile ?? { nickName: user }) as FakeProfile) : undefined,
      '/__fake/phone-code': () => ({ code: this.phoneCode(appid, (body.phone ?? { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }) as FakePhone) })
    }
    const clientCall = client[path]
    if (clientCall !== undefined) {
      if (!this.apps.has(appid)) return this.answer(res, 400, this.error(40013))
      const result = clientCall()
      return result === undefined ? this.answer(res, 400, { errcode: 40003, errmsg: `${user} never called wx.login` }) : this.answer(res, 200, result)
    }
    if (path === '/__fake/fault') {
      this.setFault(Object.keys(body).length === 0 ? undefined : body as Fault)
      return this.answer(res, 204, undefined)
    }
    this.answer(res, 404, { errcode: 404, errmsg: 'not found' })
  }

  private error (errcode: number): { errcode: number, errmsg: string } {
    return { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'}, rid: ${randomBytes(6).toString('hex')}` }
  }

  private answer (res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return
    if (body === undefined) { res.writeHead(status).end(); return }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
}

async function readJson (req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  try {
    const value: unknown = JSON.parse(text === '' ? '{}' : text)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : {}
  } catch {
    return {}
  }
}
