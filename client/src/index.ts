// weapp-auth-client: the mini-program half of weapp-auth. It keeps one session:
// tokens in one storage key, one refresh however many requests wait for it
// (the service treats a second use of a rotated refresh token as theft), one
// wx.login() at a time (a second one invalidates the first code's session_key),
// and at most one re-login per request. It logs nothing.

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * The part of `wx` (or `uni`, Taro) the client uses, callback style as in the
 * base library. Loose where the official typings are narrower, so that their
 * `wx` (the default, checked against miniprogram-api-typings) fits. Note that
 * wx.request has no PATCH; uni and Taro on other platforms do.
 */
export interface WxLike {
  login (options: { success?: (result: { code: string }) => void, fail?: (error: { errMsg: string }) => void }): unknown
  request (options: {
    url: string
    method?: string
    data?: any
    header?: Record<string, string>
    /** `{ statusCode, data, header }` for any HTTP status. */
    success?: (result: any) => void
    /** `{ errMsg }`: no HTTP answer. */
    fail?: (error: any) => void
  }): unknown
  getStorageSync (key: string): any
  setStorageSync (key: string, data: any): void
  removeStorageSync (key: string): void
  checkSession (options: { success?: () => void, fail?: () => void }): unknown
}

export interface AuthClientOptions {
  /** The weapp-auth service, e.g. 'https://auth.example.com'. */
  baseUrl: string
  /** Sent with login when the service serves several mini-programs. */
  appid?: string
  /** Default: the global wx. */
  wx?: WxLike
  /** Default 'weapp-auth'. */
  storageKey?: string
  /** Refresh this long before the access token expires. Default 30. */
  refreshLeewaySeconds?: number
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
}

export interface Phone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

export interface AuthClient {
  login (): Promise<{ userId: string, isNew: boolean }>
  request<T = unknown> (options: RequestOptions): Promise<Response<T>>
  decrypt (input: { encryptedData: string, iv: string }): Promise<unknown>
  verify (input: { rawData: string, signature: string }): Promise<unknown>
  phone (code: string): Promise<Phone>
  /** wx.checkSession, and a login when WeChat's session (so the session_key) is gone or there is none. */
  ensureSessionKey (): Promise<void>
  logout (): Promise<void>
  logoutAll (): Promise<void>
  isLoggedIn (): boolean
}

/** `code` is the service's error code, or NETWORK_ERROR (no HTTP answer), WX_LOGIN_FAILED. */
export class AuthError extends Error {
  readonly code: string
  readonly statusCode?: number
  /** Seconds, from Retry-After. */
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

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** exp - iat of a JWT in seconds (no atob in the mini-program), NaN when unreadable. */
function lifetime (jwt: string): number {
  try {
    let bits = 0
    let buffer = 0
    let text = ''
    for (const char of jwt.split('.')[1]!) {
      buffer = ((buffer << 6) | BASE64URL.indexOf(char)) & 0xffff
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

export function createAuthClient (options: AuthClientOptions): AuthClient {
  const w: WxLike | undefined = options.wx || (typeof wx === 'undefined' ? undefined : wx)
  if (!w) throw new Error('weapp-auth-client: no wx: pass options.wx')
  const base = options.baseUrl.replace(/\/+$/, '')
  const key = options.storageKey || 'weapp-auth'
  const leeway = (options.refreshLeewaySeconds === undefined ? 30 : options.refreshLeewaySeconds) * 1000
  const now = options.now || Date.now

  let tokens = read()
  let signing: Promise<SignedIn> | undefined
  let refreshing: Promise<Tokens | undefined> | undefined
  let refreshingFrom: Tokens | undefined

  function read (): Tokens | undefined {
    try {
      const stored = w!.getStorageSync(key)
      if (stored && typeof stored.accessToken === 'string' && typeof stored.refreshToken === 'string' && typeof stored.expiresAt === 'number') return stored
    } catch (error) {}
    return undefined
  }

  /** Storage first: a rotated refresh token that only lived in memory would be lost on a restart. */
  function save (body: TokenBody): Tokens {
    const life = lifetime(body.accessToken)
    const next = { accessToken: body.accessToken, refreshToken: body.refreshToken, expiresAt: now() + (life > 0 ? life : body.expiresIn) * 1000 }
    try { w!.setStorageSync(key, next) } catch (error) {}
    return (tokens = next)
  }

  function clear (): void {
    tokens = undefined
    try { w!.removeStorageSync(key) } catch (error) {}
  }

  function send (url: string, method: Method, data: unknown, header: Record<string, string>): Promise<Response<any>> {
    return new Promise((resolve, reject) => {
      w!.request({
        url,
        method,
        data,
        header,
        success: (res) => resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} }),
        fail: (error) => reject(new AuthError('NETWORK_ERROR', (error && error.errMsg) || 'request failed'))
      })
    })
  }

  async function post (path: string, data: object): Promise<any> {
    const res = await send(base + path, 'POST', data, {})
    if (res.statusCode >= 300) throw failure(res)
    return res.data
  }

  function wxLogin (): Promise<string> {
    return new Promise((resolve, reject) => {
      const failed = (message: string) => reject(new AuthError('WX_LOGIN_FAILED', message))
      w!.login({ success: (res) => res.code ? resolve(res.code) : failed('wx.login gave no code'), fail: (error) => failed((error && error.errMsg) || 'wx.login failed') })
    })
  }

  async function logIn (): Promise<SignedIn> {
    for (let attempt = 1; ; attempt++) {
      const code = await wxLogin()
      try {
        const body: LoginBody = await post('/v1/auth/login', options.appid ? { code, appid: options.appid } : { code })
        return { user: body.user, tokens: save(body) }
      } catch (error) {
        const retry = (error as AuthError).code === 'WECHAT_CODE_USED' || (error as AuthError).code === 'WECHAT_CODE_INVALID'
        if (attempt > 1 || !retry) throw error
      }
    }
  }

  /** One login at a time: concurrent callers share its wx.login() and its POST. */
  function signIn (): Promise<SignedIn> {
    if (!signing) {
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
      const body: TokenBody = await post('/v1/auth/refresh', { refreshToken: from.refreshToken })
      return tokens === from ? save(body) : undefined
    } catch (error) {
      if ((error as AuthError).statusCode === 401 && tokens === from) clear()
      throw error
    }
  }

  /**
   * New tokens after `from` expired. One refresh per token, shared by every
   * caller; callers that come after it (or after a login) take its result.
   * A refused refresh (401: revoked, reused, expired) means one login.
   */
  async function renew (from: Tokens, mayLogin: boolean): Promise<Held> {
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
        if ((error as AuthError).statusCode !== 401) throw error
      }
    }
    return current(mayLogin)
  }

  /** Another 401: the session is gone. Unless someone already replaced it, clear it and log in once. */
  function relogin (from: Tokens, mayLogin: boolean): Promise<Held> {
    if (tokens === from) clear()
    return current(mayLogin)
  }

  async function ready (mayLogin: boolean): Promise<Held> {
    const held = tokens
    if (!held) return current(mayLogin)
    if (now() < held.expiresAt - leeway) return { tokens: held, login: false }
    try {
      return await renew(held, mayLogin)
    } catch (error) {
      // The refresh itself failed (network, 429, 5xx): a token still inside its life still serves.
      if (tokens === held && now() < held.expiresAt) return { tokens: held, login: false }
      throw error
    }
  }

  /** Sends with the Bearer token; an expired token costs one refresh, any other 401 one login, then a 401 rejects. */
  async function authed (url: string, method: Method, data: unknown, header: Record<string, string> | undefined, mayLogin: boolean): Promise<Response<any>> {
    let held = await ready(mayLogin)
    let refreshed = false
    let relogged = held.login
    for (;;) {
      const res = await send(url, method, data, Object.assign({}, header, { Authorization: 'Bearer ' + held.tokens.accessToken }))
      if (res.statusCode !== 401) return res
      const code = res.data && res.data.code
      if (code === 'SESSION_KEY_STALE') {
        // The data was sealed with a session_key the service no longer has: no replay can open it.
        await signIn().catch(() => {})
        throw new AuthError(code, 'the session_key that sealed this data is outdated: logged in again, fetch the encrypted data again and retry', 401)
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
    const res = await authed(base + path, 'POST', data, undefined, true)
    if (res.statusCode >= 300) throw failure(res)
    return res.data
  }

  /** Never logs in just to log out; the tokens are gone locally whatever the service answers. */
  async function end (path: string): Promise<void> {
    // A login under way would sign the user in again right after.
    if (signing) await signing.catch(() => {})
    if (!tokens) return
    try {
      // wx.request sends its default JSON content type even without data; Fastify refuses that empty.
      const res = await authed(base + path, 'POST', {}, undefined, false)
      if (res.statusCode >= 300) throw failure(res)
    } catch (error) {
      if ((error as AuthError).statusCode !== 401 && (error as AuthError).code !== 'NOT_LOGGED_IN') throw error
    } finally {
      clear()
    }
  }

  return {
    login: () => signIn().then((signed) => ({ userId: signed.user.id, isNew: signed.user.isNew })),
    async request<T> (req: RequestOptions): Promise<Response<T>> {
      const url = /^https?:\/\//i.test(req.url) ? req.url : base + (req.url.charAt(0) === '/' ? '' : '/') + req.url
      const res = await authed(url, req.method || 'GET', req.data, req.header, true)
      // The service's own limits and outages reject; the app's API answers as wx.request would.
      if (url.indexOf(base + '/') === 0 && (res.statusCode === 429 || res.statusCode >= 500)) throw failure(res)
      return res
    },
    decrypt: (input) => service('/v1/auth/decrypt', { encryptedData: input.encryptedData, iv: input.iv }).then((body) => body.data),
    verify: (input) => service('/v1/auth/verify', { rawData: input.rawData, signature: input.signature }).then((body) => body.data),
    phone: (code) => service('/v1/auth/phone', { code }),
    ensureSessionKey: () => new Promise<boolean>((resolve) => w.checkSession({ success: () => resolve(true), fail: () => resolve(false) }))
      .then((valid) => valid && tokens ? undefined : signIn().then(() => undefined)),
    logout: () => end('/v1/auth/logout'),
    logoutAll: () => end('/v1/auth/logout-all'),
    isLoggedIn: () => !!tokens
  }
}
