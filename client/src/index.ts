// weapp-auth-client: the mini-program half of weapp-auth. It keeps one session:
// tokens in one storage key, one refresh however many requests wait for it
// (the service treats a second use of a rotated refresh token as theft), one
// wx.login() at a time (a second one invalidates the first code's session_key),
// at most one re-login per request and reloginLimit a minute, and the Bearer
// token only to the origins it was given. It logs nothing.

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** The mini-program runtimes: WeChat, QQ, Douyin/Toutiao, Baidu, Alipay, Kuaishou; by the name of their global. */
export type Platform = 'wx' | 'qq' | 'tt' | 'swan' | 'my' | 'ks'

/** What wx.request takes; the options the client does not set itself pass through as given. */
export interface WxRequestOptions {
  url: string
  method?: string
  data?: any
  header?: Record<string, string>
  timeout?: number
  dataType?: string
  responseType?: string
  enableHttp2?: boolean
  /** `{ statusCode, data, header }` for any HTTP status. */
  success?: (result: any) => void
  /** `{ errMsg }`: no HTTP answer. */
  fail?: (error: any) => void
  [option: string]: any
}

/**
 * The part of `wx` (or `uni`, Taro) the client uses, callback style as in the
 * base library; an API that returns a promise instead (Taro, uni-app) works
 * too. Loose where the official typings are narrower, so that their `wx` (the
 * default, checked against miniprogram-api-typings) fits. Note that wx.request
 * has no PATCH; uni and Taro on other platforms do.
 */
export interface WxLike {
  login (options: { success?: (result: { code: string }) => void, fail?: (error: { errMsg: string }) => void }): unknown
  request (options: WxRequestOptions): unknown
  getStorageSync (key: string): any
  setStorageSync (key: string, data: any): void
  removeStorageSync (key: string): void
  checkSession (options: { success?: () => void, fail?: () => void }): unknown
}

export interface AuthClientOptions {
  /** The weapp-auth service, e.g. 'https://auth.example.com'. */
  baseUrl: string
  /** Origins of the app's own APIs that get the Bearer token too, e.g. ['https://api.example.com']. Any other URL is sent without it. */
  apiOrigins?: string[]
  /** Sent with login when the service serves several mini-programs. */
  appid?: string
  /**
   * The runtime's global: wx, qq, tt, swan, my, ks (or uni, Taro: wx-shaped).
   * Default: the global of `platform`, or the first of wx, qq, tt, swan, my, ks there is.
   */
  api?: object
  /** Which runtime `api` is. Default: the platform whose global `api` is, else wx's shape (uni, Taro). */
  platform?: Platform
  /** The former name of `api`, still taken. */
  wx?: WxLike
  /** Default 'weapp-auth'. */
  storageKey?: string
  /** Refresh this long before the access token expires. Default 30; at most half the token's lifetime is used. */
  refreshLeewaySeconds?: number
  /** A wx.login() that has not called back by then rejects WX_LOGIN_TIMEOUT. Default 10000. */
  loginTimeoutMs?: number
  /** After a 403 USER_DISABLED, requests reject at once for this long. Default 60. */
  disabledCooldownSeconds?: number
  /** Re-logins after a 401 allowed per reloginWindowSeconds; more reject RELOGIN_LIMITED. Default 3. */
  reloginLimit?: number
  /** Default 60. */
  reloginWindowSeconds?: number
  /** The clock expiry is judged by, in milliseconds. Default Date.now; tests pass their own. */
  now?: () => number
}

export interface Response<T = unknown> {
  statusCode: number
  data: T
  header: Record<string, string>
}

export interface RequestOptions {
  url: string
  method?: Method
  data?: unknown
  header?: Record<string, string>
  timeout?: number
  dataType?: string
  responseType?: string
  enableHttp2?: boolean
  /** Any other wx.request option, passed through. */
  [option: string]: unknown
}

export interface Phone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

export type AuthChange =
  | { type: 'signIn', userId: string, isNew: boolean }
  | { type: 'signOut' }
  | { type: 'disabled', retryAfter: number }
  | { type: 'storageError', error: AuthError }

export interface AuthClient {
  login (): Promise<{ userId: string, isNew: boolean }>
  request<T = unknown> (options: RequestOptions): Promise<Response<T>>
  /** A valid access token for the app's own request layer: logs in or refreshes first when needed. */
  getAccessToken (): Promise<string>
  decrypt (input: { encryptedData: string, iv: string }): Promise<unknown>
  verify (input: { rawData: string, signature: string }): Promise<unknown>
  phone (code: string): Promise<Phone>
  /** wx.checkSession, and a login when WeChat's session (so the session_key) is gone or there is none. */
  ensureSessionKey (): Promise<void>
  /**
   * Resolves: the service ended the session (or it had ended). Rejects
   * (NETWORK_ERROR, 429, 5xx): the service did not hear it; the device is
   * signed out anyway and the logout is kept in storage and sent when the
   * service next answers this client (or one created later).
   */
  logout (): Promise<void>
  logoutAll (): Promise<void>
  isLoggedIn (): boolean
  /** Hears sign-in, sign-out, a ban and a failed storage write; returns the unsubscribe. */
  onChange (listener: (change: AuthChange) => void): () => void
}

/**
 * `code` is the service's error code, or NETWORK_ERROR (no HTTP answer),
 * WX_LOGIN_FAILED, WX_LOGIN_TIMEOUT, BAD_RESPONSE (a 2xx that is no token
 * answer), RELOGIN_LIMITED, STORAGE_FAILED.
 */
export class AuthError extends Error {
  readonly code: string
  readonly statusCode?: number
  /** Seconds, from Retry-After or the client's own cool-down. */
  readonly retryAfter?: number

  constructor (code: string, message: string, statusCode?: number, retryAfter?: number) {
    super(message)
    this.name = 'AuthError'
    this.code = code
    if (statusCode !== undefined) this.statusCode = statusCode
    if (retryAfter !== undefined) this.retryAfter = retryAfter
  }
}

interface Tokens {
  accessToken: string
  refreshToken: string
  /** On this device's clock, measured from the token's own lifetime (exp - iat). */
  expiresAt: number
}

interface TokenBody {
  accessToken: string
  refreshToken: string
  expiresIn: number
}

interface LoginBody extends TokenBody {
  user: { id: string, isNew: boolean }
}

interface SignedIn {
  user: { id: string, isNew: boolean }
  tokens: Tokens
}

/** Tokens to send, and whether a login produced them (a request logs in at most once). */
interface Held {
  tokens: Tokens
  login: boolean
}

/** A logout the service has not heard yet, kept in storage until it does. */
interface Pending {
  path: string
  accessToken: string
  refreshToken: string
}

const noop = (): void => {}

/** exp - iat of a JWT in seconds (no atob in the mini-program), NaN when unreadable. */
function lifetime (jwt: string): number {
  try {
    let bits = 0
    let buffer = 0
    let text = ''
    for (const char of jwt.split('.')[1]!) {
      // base64url: A-Z a-z 0-9 - _ (what isJwt lets through) as 0 to 63, by character code.
      const c = char.charCodeAt(0)
      buffer = ((buffer << 6) | (c > 96 ? c - 71 : c > 94 ? 63 : c > 64 ? c - 65 : c > 47 ? c + 4 : 62)) & 0xffff
      bits += 6
      if (bits >= 8) {
        bits -= 8
        text += String.fromCharCode((buffer >> bits) & 0xff)
      }
    }
    const claims = JSON.parse(text)
    return claims.exp - claims.iat
  } catch (error) {
    return NaN
  }
}

// What storage or a 2xx holds is checked before it is used: a gateway's page,
// a truncated write or another app's value is not a session. The service takes
// refresh tokens of 1 to 256 characters.
const isJwt = (value: any): boolean => typeof value === 'string' && value.length < 4096 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(value)
const isRefreshToken = (value: any): boolean => typeof value === 'string' && value.length > 0 && value.length <= 256
const isTokens = (value: any): boolean => !!value && isJwt(value.accessToken) && isRefreshToken(value.refreshToken)
const isTokenBody = (body: any): boolean => isTokens(body) && body.expiresIn > 0
const isLoginBody = (body: any): boolean => isTokenBody(body) && !!body.user && typeof body.user.id === 'string'

/** 'https://host:port' in lower case; '' for anything that is not an http(s) URL. */
function originOf (url: string): string {
  const match = /^https?:\/\/[^/?#]*/i.exec(url)
  return match ? match[0].toLowerCase() : ''
}

/** Taro and uni-app return a promise where wx calls back: either settles. */
function settle (result: any, resolve: (value: any) => void, reject: (error: any) => void): void {
  if (result && typeof result.then === 'function') result.then(resolve, reject)
}

function failure (res: Response<any>): AuthError {
  const body = res.data || {}
  let retryAfter: number | undefined
  for (const name in res.header) if (name.toLowerCase() === 'retry-after') retryAfter = Number(res.header[name])
  return new AuthError(
    typeof body.code === 'string' ? body.code : 'HTTP_' + res.statusCode,
    typeof body.message === 'string' ? body.message : 'status ' + res.statusCode,
    res.statusCode,
    retryAfter! >= 0 ? retryAfter : undefined
  )
}

declare const qq: any, tt: any, swan: any, my: any, ks: any

/**
 * Alipay's `my` in wx's shape for requests and storage: `headers` into
 * my.request, storage by { key, data } answering { data }, where a write may
 * answer { error } instead of throwing; no checkSession (Alipay has no
 * session_key). What my.request answers (`status`, `headers`, fail for an HTTP
 * error) is read in send(); the code (my.getAuthCode) in wxLogin().
 */
function alipay (api: any): Omit<WxLike, 'login'> {
  return {
    request: (options) => api.request(Object.assign({ headers: options.header }, options)),
    getStorageSync: (key) => (api.getStorageSync({ key }) || {}).data,
    setStorageSync (key, data) {
      const res = api.setStorageSync({ key, data })
      if (res && res.error) throw res
    },
    removeStorageSync: (key) => api.removeStorageSync({ key }),
    checkSession: (options) => options.success!()
  }
}

/** The JSON in `text`; what is no JSON as it is. */
function json (text: any): any {
  try { return JSON.parse(text) } catch (error) { return text }
}

/** A number option: the default when absent, a TypeError when not a finite number >= 0. */
function option (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!(value >= 0 && value < Infinity)) throw new TypeError('weapp-auth-client: ' + name + ' must be a finite number >= 0')
  return value
}

export function createAuthClient (options: AuthClientOptions): AuthClient {
  // The runtimes' globals, wx first: a runtime that has `wx` (WeChat, and hosts that copy it) is wx-shaped.
  const found: Record<string, any> = {
    wx: typeof wx !== 'undefined' && wx,
    qq: typeof qq !== 'undefined' && qq,
    tt: typeof tt !== 'undefined' && tt,
    swan: typeof swan !== 'undefined' && swan,
    my: typeof my !== 'undefined' && my,
    ks: typeof ks !== 'undefined' && ks
  }
  const given = options.api || options.wx
  let platform = options.platform
  for (const name in found) if (!platform && found[name] && (!given || given === found[name])) platform = name as Platform
  const api: any = given || found[platform || 'wx']
  if (!api) throw new Error('weapp-auth-client: no wx, qq, tt, swan, my, ks: pass options.api')
  // The code: Alipay's authCode (scope auth_base: silent, no consent popup), Baidu's from swan.getLoginCode;
  // tt.login's anonymousCode (a device, not a user) is never read.
  const isAlipay = platform === 'my'
  const loginName = isAlipay ? 'getAuthCode' : platform === 'swan' ? 'getLoginCode' : 'login'
  const codeName = isAlipay ? 'authCode' : 'code'
  const named = (platform || 'wx') + '.' + loginName
  const w: Omit<WxLike, 'login'> = isAlipay ? alipay(api) : api
  const base = options.baseUrl.replace(/\/+$/, '')
  const origins = [base].concat(options.apiOrigins || []).map(originOf)
  const key = options.storageKey || 'weapp-auth'
  const pendingKey = key + ':logout'
  const leeway = option('refreshLeewaySeconds', options.refreshLeewaySeconds, 30) * 1000
  // setTimeout fires at once past 2^31 - 1 ms.
  const loginTimeout = Math.min(option('loginTimeoutMs', options.loginTimeoutMs, 10000), 2147483647)
  const cooldown = option('disabledCooldownSeconds', options.disabledCooldownSeconds, 60) * 1000
  const reloginLimit = option('reloginLimit', options.reloginLimit, 3)
  const reloginWindow = option('reloginWindowSeconds', options.reloginWindowSeconds, 60) * 1000
  const now = options.now || Date.now
  const listeners: ((change: AuthChange) => void)[] = []

  let tokens = read() || undefined
  /** The pair this client holds whose write failed: it is not in storage, and only this client has it. */
  let unsaved: Tokens | undefined
  let signing: Promise<SignedIn> | undefined
  let refreshing: Promise<Tokens | undefined> | undefined
  let refreshingFrom: Tokens | undefined
  // A ban's cool-down outlives a restart; a stored time beyond one cool-down from now is not believed.
  const disabledKey = key + ':disabled'
  let disabledUntil = 0
  try { disabledUntil = Math.min(+w.getStorageSync(disabledKey) || 0, now() + cooldown) } catch (error) {}
  let relogins: number[] = []
  // Refresh tokens whose logout the service heard (or that were rotated): a storage that refuses writes still holds them.
  const heard: string[] = []
  let pending = pendingLogouts().length > 0
  let flushing = false

  function emit (change: AuthChange): void {
    for (const listener of listeners.slice()) {
      try { listener(change) } catch (error) {}
    }
  }

  /** Undefined: no session stored; null: storage could not be read. */
  function read (): Tokens | undefined | null {
    try {
      const stored = w.getStorageSync(key)
      return isTokens(stored) && typeof stored.expiresAt === 'number' && isFinite(stored.expiresAt) ? stored : undefined
    } catch (error) {
      return null
    }
  }

  /**
   * Storage first: a rotated refresh token that only lived in memory would be
   * lost on a restart. A write that fails takes the old pair out of storage
   * too: it has been rotated, and a restart or another client presenting it
   * would make the service revoke the session as theft.
   */
  function save (body: TokenBody): Tokens {
    const life = lifetime(body.accessToken)
    const next = {
      accessToken: body.accessToken,
      refreshToken: body.refreshToken,
      expiresAt: now() + (life > 0 ? life : body.expiresIn) * 1000
    }
    try {
      w.setStorageSync(key, next)
    } catch (error) {
      try { w.removeStorageSync(key) } catch (ignored) {}
      unsaved = next
      emit({ type: 'storageError', error: new AuthError('STORAGE_FAILED', 'storage write failed: session kept in memory') })
    }
    return (tokens = next)
  }

  function clear (): void {
    const had = tokens
    tokens = undefined
    try { w.removeStorageSync(key) } catch (error) {}
    if (had) emit({ type: 'signOut' })
  }

  function disable (): void {
    disabledUntil = now() + cooldown
    try { w.setStorageSync(disabledKey, disabledUntil) } catch (error) {}
    clear()
    emit({ type: 'disabled', retryAfter: Math.ceil(cooldown / 1000) })
  }

  function send (url: string, method: Method, data: unknown, header: Record<string, string>, extra?: object): Promise<Response<any>> {
    return new Promise((resolve, reject) => {
      // my.request answers `status` and `headers`, and calls fail with them for an HTTP error status (error 19)
      // or a body that is not JSON (14).
      const answered = (res: any, body = res.data): void => {
        resolve({ statusCode: res.statusCode || res.status, data: body, header: res.header || res.headers || {} })
        if (url.indexOf(base + '/') === 0) flush()
      }
      const failed = (error: any): void => error && error.status >= 100
        ? answered(error, json(error.data))
        : reject(new AuthError('NETWORK_ERROR', (error && (error.errMsg || error.errorMessage)) || 'request failed'))
      // A runtime that throws instead of calling fail (an invalid URL on some platforms): no answer all the same.
      try {
        settle(w.request(Object.assign({}, extra, { url, method, data, header, success: answered, fail: failed })), answered, failed)
      } catch (error) {
        failed(error)
      }
    })
  }

  const bearer = (accessToken: string) => ({ Authorization: 'Bearer ' + accessToken })
  const toService = (path: string, data: object, header: Record<string, string> = {}) => send(base + path, 'POST', data, header)

  async function post (path: string, data: object, valid: (body: any) => boolean): Promise<any> {
    const res = await toService(path, data)
    if (res.statusCode >= 300) throw failure(res)
    if (!valid(res.data)) throw new AuthError('BAD_RESPONSE', path + ' answered ' + res.statusCode + ' without tokens', res.statusCode)
    return res.data
  }

  /** Best effort: a session this client no longer uses should not stay live at the service. */
  function endQuietly (old: Tokens): void {
    toService('/v1/auth/logout', {}, bearer(old.accessToken)).then(noop, noop)
  }

  function wxLogin (): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (code: string, message: string) => { clearTimeout(timer); reject(new AuthError(code, message)) }
      const done = (res: any) => res && res[codeName] ? (clearTimeout(timer), resolve(res[codeName])) : failed('WX_LOGIN_FAILED', named + ' gave no code')
      const refused = (error: any) => failed('WX_LOGIN_FAILED', (error && (error.errMsg || error.errorMessage)) || named + ' failed')
      const timer = setTimeout(() => failed('WX_LOGIN_TIMEOUT', named + ' did not answer within ' + loginTimeout + ' ms'), loginTimeout)
      try {
        settle(api[loginName](Object.assign(isAlipay ? { scopes: 'auth_base' } : {}, { success: done, fail: refused })), done, refused)
      } catch (error) {
        refused(error)
      }
    })
  }

  async function logIn (): Promise<SignedIn> {
    for (let attempt = 1; ; attempt++) {
      const code = await wxLogin()
      try {
        const body: LoginBody = await post('/v1/auth/login', options.appid ? { code, appid: options.appid } : { code }, isLoginBody)
        if (tokens) endQuietly(tokens)
        const signed = { user: { id: body.user.id, isNew: !!body.user.isNew }, tokens: save(body) }
        emit({ type: 'signIn', userId: signed.user.id, isNew: signed.user.isNew })
        return signed
      } catch (error) {
        const code = (error as AuthError).code
        if (code === 'USER_DISABLED') disable()
        if (attempt > 1 || (code !== 'WECHAT_CODE_USED' && code !== 'WECHAT_CODE_INVALID')) throw error
      }
    }
  }

  /** One login at a time: concurrent callers share its wx.login() and its POST. A banned user's cool-down sends nothing. */
  function signIn (): Promise<SignedIn> {
    if (!signing) {
      const wait = Math.ceil((disabledUntil - now()) / 1000)
      if (wait > 0) return Promise.reject(new AuthError('USER_DISABLED', 'account disabled: next login in ' + wait + ' s', 403, wait))
      const done = () => { signing = undefined }
      signing = logIn()
      signing.then(done, done)
    }
    return signing
  }

  async function current (mayLogin: boolean): Promise<Held> {
    if (tokens) return { tokens, login: false }
    if (!mayLogin) throw new AuthError('NOT_LOGGED_IN', 'not logged in')
    return { tokens: (await signIn()).tokens, login: true }
  }

  /** Undefined when a login or logout replaced `from` meanwhile: the rotated pair is then dropped. */
  async function rotate (from: Tokens): Promise<Tokens | undefined> {
    try {
      const body: TokenBody = await post('/v1/auth/refresh', { refreshToken: from.refreshToken }, isTokenBody)
      return tokens === from ? save(body) : undefined
    } catch (error) {
      const failed = error as AuthError
      if (failed.code === 'USER_DISABLED') disable()
      else if ((failed.statusCode === 400 || failed.statusCode === 401) && tokens === from) clear()
      throw error
    }
  }

  /**
   * New tokens after `from` expired. Another client on the same storage key
   * may have rotated it already: its newer pair is taken instead. Otherwise one
   * refresh per token, shared by every caller; callers that come after it (or
   * after a login) take its result. A refused refresh (400, 401: malformed,
   * revoked, reused, expired) means one login.
   */
  async function renew (from: Tokens, mayLogin: boolean): Promise<Held> {
    const stored = tokens === from ? read() : null
    if (stored && stored.refreshToken !== from.refreshToken && stored.expiresAt > from.expiresAt) tokens = stored
    // Taken out of storage by another client (its write failed after a refresh, or a logout): `from` may be rotated already.
    else if (stored === undefined && from !== unsaved) clear()
    if (tokens === from) {
      if (refreshingFrom !== from) {
        const done = () => { if (refreshingFrom === from) refreshingFrom = refreshing = undefined }
        refreshingFrom = from
        refreshing = rotate(from)
        refreshing.then(done, done)
      }
      try {
        const next = await refreshing
        if (next) return { tokens: next, login: false }
      } catch (error) {
        if ((error as AuthError).statusCode !== 401 && (error as AuthError).statusCode !== 400) throw error
      }
    }
    return current(mayLogin)
  }

  /**
   * Another 401: the session is gone. Unless someone already replaced it, end
   * it at the service (best effort), clear it and log in once; more than
   * reloginLimit of these within the window reject instead.
   */
  function relogin (from: Tokens, mayLogin: boolean): Promise<Held> {
    if (tokens === from && mayLogin) {
      const since = now() - reloginWindow
      relogins = relogins.filter((at) => at > since)
      if (relogins.length >= reloginLimit) {
        const wait = Math.ceil((relogins[0]! - since) / 1000)
        return Promise.reject(new AuthError('RELOGIN_LIMITED', reloginLimit + ' logins within ' + reloginWindow / 1000 + ' s: next login in ' + wait + ' s', undefined, wait))
      }
      relogins.push(now())
      endQuietly(from)
    }
    if (tokens === from) clear()
    return current(mayLogin)
  }

  async function ready (mayLogin: boolean): Promise<Held> {
    const held = tokens
    if (!held) return current(mayLogin)
    // A leeway as long as the token would refresh it on every request.
    const half = lifetime(held.accessToken) * 500
    if (now() < held.expiresAt - Math.min(leeway, half > 0 ? half : leeway)) return { tokens: held, login: false }
    try {
      return await renew(held, mayLogin)
    } catch (error) {
      // The refresh itself failed (network, 429, 5xx): a token still inside its life still serves.
      if (tokens === held && now() < held.expiresAt) return { tokens: held, login: false }
      throw error
    }
  }

  /** Sends with the Bearer token; an expired token costs one refresh, any other 401 one login, then a 401 rejects. */
  async function authed (
    url: string, method: Method, data: unknown, header: Record<string, string> | undefined, extra: object | undefined, mayLogin: boolean
  ): Promise<Response<any>> {
    let held = await ready(mayLogin)
    // The client's Authorization replaces the app's in any case ('authorization'): both would be one invalid value.
    const own: Record<string, string> = {}
    for (const name in header) if (!/^authorization$/i.test(name)) own[name] = header[name]!
    let refreshed = false
    let relogged = held.login
    for (;;) {
      const res = await send(url, method, data, Object.assign({}, own, bearer(held.tokens.accessToken)), extra)
      const code = res.data && res.data.code
      if (res.statusCode === 403 && code === 'USER_DISABLED' && url.indexOf(base + '/') === 0) {
        disable()
        throw failure(res)
      }
      if (res.statusCode !== 401) return res
      if (code === 'SESSION_KEY_STALE') {
        // The data was sealed with a session_key the service no longer has: no replay can open it. A login, within reloginLimit.
        await relogin(held.tokens, mayLogin).catch(noop)
        throw new AuthError(code, 'logged in again: fetch the encrypted data again', 401)
      }
      if (code === 'ACCESS_TOKEN_EXPIRED' && !refreshed) {
        refreshed = true
        held = await renew(held.tokens, mayLogin)
      } else if (!relogged) {
        relogged = true
        held = await relogin(held.tokens, mayLogin)
      } else {
        throw failure(res)
      }
      if (held.login) relogged = true
    }
  }

  async function service (path: string, data: object): Promise<any> {
    const res = await authed(base + path, 'POST', data, undefined, undefined, true)
    if (res.statusCode >= 300) throw failure(res)
    return res.data
  }

  function pendingLogouts (): Pending[] {
    try {
      const list = w.getStorageSync(pendingKey)
      if (Array.isArray(list)) return list.filter((entry) => isTokens(entry) && /^\/v1\/auth\/logout(-all)?$/.test(entry.path) && heard.indexOf(entry.refreshToken) < 0)
    } catch (error) {}
    return []
  }

  function keepPending (list: Pending[]): void {
    try { list.length ? w.setStorageSync(pendingKey, list.slice(-5)) : w.removeStorageSync(pendingKey) } catch (error) {}
    pending = list.length > 0
  }

  /**
   * Sends the logouts the service has not heard, oldest first, refreshing one
   * whose access token expired meanwhile; stops at the first it still cannot
   * hear. Storage is read again each time: a logout may be added meanwhile.
   */
  async function tell (): Promise<void> {
    for (let list = pendingLogouts(); list.length; list = pendingLogouts()) {
      const entry = list[0]!
      let res = await toService(entry.path, {}, bearer(entry.accessToken))
      if (res.statusCode === 401 && res.data && res.data.code === 'ACCESS_TOKEN_EXPIRED') {
        res = await toService('/v1/auth/refresh', { refreshToken: entry.refreshToken })
        if (res.statusCode < 300 && isTokenBody(res.data)) {
          heard.push(entry.refreshToken)
          entry.accessToken = res.data.accessToken
          entry.refreshToken = res.data.refreshToken
          keepPending(pendingLogouts().concat(entry))
          res = await toService(entry.path, {}, bearer(entry.accessToken))
        }
      }
      if (res.statusCode === 429 || res.statusCode >= 500) return
      heard.push(entry.refreshToken)
      keepPending(pendingLogouts())
    }
    pending = false
  }

  function flush (): void {
    if (!pending || flushing) return
    flushing = true
    const done = () => { flushing = false }
    tell().then(done, done)
  }

  /** Never logs in just to log out; the tokens are gone locally whatever the service answers. */
  async function end (path: string): Promise<void> {
    // A login under way would sign the user in again right after.
    if (signing) await signing.catch(noop)
    if (!tokens) return
    try {
      // wx.request sends its default JSON content type even without data; Fastify refuses that empty.
      const res = await authed(base + path, 'POST', {}, undefined, undefined, false)
      if (res.statusCode >= 300) throw failure(res)
    } catch (error) {
      const failed = error as AuthError
      if (failed.statusCode === 401 || failed.code === 'NOT_LOGGED_IN') return
      // Not heard (offline, 429, 5xx): kept, and sent when the service answers again.
      if (tokens && (failed.code === 'NETWORK_ERROR' || failed.statusCode! === 429 || failed.statusCode! >= 500)) {
        keepPending(pendingLogouts().concat({ path, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken }))
      }
      throw error
    } finally {
      clear()
    }
  }

  if (pending) flush()

  return {
    login: () => signIn().then((signed) => ({ userId: signed.user.id, isNew: signed.user.isNew })),
    async request<T> (req: RequestOptions): Promise<Response<T>> {
      const url = /^https?:\/\//i.test(req.url) ? req.url : base + (req.url.charAt(0) === '/' ? '' : '/') + req.url
      const extra: Record<string, unknown> = {}
      for (const name in req) if (!/^(url|method|data|header|success|fail|complete)$/.test(name)) extra[name] = req[name]
      // The Bearer token goes to the service and the listed APIs only; look-alike hosts get nothing.
      if (origins.indexOf(originOf(url)) < 0) return send(url, req.method || 'GET', req.data, req.header || {}, extra)
      const res = await authed(url, req.method || 'GET', req.data, req.header, extra, true)
      // The service's own limits and outages reject; the app's API answers as wx.request would.
      if (url.indexOf(base + '/') === 0 && (res.statusCode === 429 || res.statusCode >= 500)) throw failure(res)
      return res
    },
    getAccessToken: () => ready(true).then((held) => held.tokens.accessToken),
    decrypt: (input) => service('/v1/auth/decrypt', { encryptedData: input.encryptedData, iv: input.iv }).then((body) => body.data),
    verify: (input) => service('/v1/auth/verify', { rawData: input.rawData, signature: input.signature }).then((body) => body.data),
    phone: (code) => service('/v1/auth/phone', { code }),
    ensureSessionKey: () => new Promise<boolean>((resolve) => w.checkSession({ success: () => resolve(true), fail: () => resolve(false) }))
      .then((valid) => valid && tokens ? undefined : signIn().then(noop)),
    logout: () => end('/v1/auth/logout'),
    logoutAll: () => end('/v1/auth/logout-all'),
    isLoggedIn: () => !!tokens,
    onChange (listener) {
      listeners.push(listener)
      return () => { if (listeners.indexOf(listener) >= 0) listeners.splice(listeners.indexOf(listener), 1) }
    }
  }
}
