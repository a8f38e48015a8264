import { randomBytes } from 'node:crypto'
import type { FakePhone, FakeProfile, Sealed } from './fake-wechat-data.js'

/**
 * A mini-program runtime in Node, for the tests and the demo: what the client
 * SDK calls, in the shape of each platform's global (wx, qq, tt, swan, my, ks),
 * callbacks as their base libraries call them. Requests are real HTTP; login
 * codes and checkSession come from a pluggable source, by default the
 * platform's fake (src/dev/fake-*.ts) over its /__fake HTTP API (so the fake
 * may run in another process, as in the demo). It knows nothing of the SDK: it
 * is the phone's side.
 *
 * The simulator itself is `wx`; `global` is the object the mini-program sees
 * on its platform (the simulator itself for wx). Counters, faults and storage
 * are the simulator's, whatever the platform.
 */

export type Platform = 'wx' | 'qq' | 'tt' | 'swan' | 'my' | 'ks'

export type RuntimeCall =
  | { api: 'login', code?: string, anonymousCode?: string, errMsg?: string }
  | { api: 'request', method: string, url: string, authorization?: string, statusCode?: number, errMsg?: string }
  | { api: 'checkSession', valid: boolean }

interface Callbacks<Result> {
  success?: (result: Result) => void
  fail?: (error: { errMsg: string }) => void
}

/** What wx.request takes (the base library's names). */
export interface RequestOptions {
  url: string
  method?: string
  data?: unknown
  header?: Record<string, string>
  timeout?: number
  dataType?: string
  responseType?: string
  success?: (result: { statusCode: number, data: unknown, header: Record<string, string>, errMsg: string }) => void
  fail?: (error: { errMsg: string }) => void
  [option: string]: unknown
}

/**
 * Where the phone's login state comes from: the platform's side of login, which
 * the real runtime does inside the app (by default the platform's fake).
 */
export interface CodeSource {
  /** A fresh one-time login code for this phone's user. */
  code (): Promise<string>
  /** checkSession: whether the platform still holds the login state (so the session_key). */
  sessionValid (): Promise<boolean>
}

export interface RuntimeSimulatorOptions {
  /** The platform's fake (fake WeChat, fake QQ...): the default code source, and getUserProfile / the phone button. */
  fakeUrl: string
  /** The app's name at the fake: its appid (Baidu: its appKey). */
  appid: string
  /** Who holds the phone: the fake's user. */
  user: string
  /** Which runtime `global` presents. Default 'wx'. */
  platform?: Platform
  /** Default: the fake at fakeUrl, for appid and user. */
  codes?: CodeSource
  /** The phone's storage; two simulators sharing it are one mini-program before and after a restart. */
  storage?: Map<string, string>
  /** Sees every call after it completes (the demo prints them). */
  onCall?: (call: RuntimeCall) => void
}
/** What a stand-in for the network answers instead: the status, the body's text, headers. */
export interface StandInAnswer {
  statusCode: number
  body: string
  header?: Record<string, string>
}

export class RuntimeSimulator {
  readonly calls = { login: 0, request: 0, checkSession: 0 }
  readonly storage: Map<string, string>
  readonly platform: Platform
  /** The runtime's global as the mini-program sees it on `platform`: `wx`, `qq`, `tt`, `swan`, `my` or `ks`. */
  readonly global: object
  /** The next this-many logins fail, as they do offline. */
  failLogins = 0
  /** The next this-many logins never call back (seen on real devices after a resume). */
  hangLogins = 0
  /** The next this-many storage writes fail, as they do when storage is full (my: an `{ error: 12 }` answer; others throw). */
  failStorageWrites = 0
  /** tt only: the next this-many tt.login() calls answer an anonymousCode and no code, as for a user not logged in to Douyin. */
  anonymousLogins = 0
  /** my only: the scopes of each my.getAuthCode() call. */
  readonly authScopes: unknown[] = []
  /**
   * A stand-in between the phone and the network (a captive portal, a gateway):
   * what it answers is what the request reports; undefined lets the request through.
   */
  standIn?: (request: { method: string, url: string, header: Record<string, string> }) => StandInAnswer | undefined
  /** Replaces the code a login hands out (a code already used elsewhere, a forged one). */
  codeFilter?: (code: string) => string | Promise<string>
  private readonly codes: CodeSource

  constructor (private readonly options: RuntimeSimulatorOptions) {
    this.storage = options.storage ?? new Map()
    this.platform = options.platform ?? 'wx'
    this.codes = options.codes ?? fakeCodes(options.fakeUrl, options.appid, options.user)
    this.global = present(this, this.platform)
  }

  login ({ success, fail }: Callbacks<{ code: string, errMsg: string }>): void {
    this.calls.login++
    const done = (call: RuntimeCall & { api: 'login' }): void => {
      this.options.onCall?.(call)
      if (call.code !== undefined) success?.({ code: call.code, errMsg: 'login:ok' })
      else fail?.({ errMsg: call.errMsg! })
    }
    if (this.hangLogins > 0) {
      this.hangLogins--
      return
    }
    if (this.failLogins > 0) {
      this.failLogins--
      setImmediate(() => done({ api: 'login', errMsg: 'login:fail network unavailable' }))
      return
    }
    this.codes.code()
      .then(async (code) => ({ api: 'login' as const, code: this.codeFilter === undefined ? code : await this.codeFilter(code) }))
      .then(done, (error: Error) => done({ api: 'login', errMsg: `login:fail ${error.message}` }))
  }

  /** tt.login: a code and an anonymousCode, or (anonymousLogins) only the anonymousCode. */
  ttLogin ({ success, fail }: Callbacks<{ code?: string, anonymousCode: string, isLogin: boolean, errMsg: string }>): void {
    const anonymousCode = randomBytes(12).toString('hex')
    if (this.anonymousLogins === 0) {
      this.login({ success: (result) => success?.({ ...result, anonymousCode, isLogin: true }), fail })
      return
    }
    this.anonymousLogins--
    this.calls.login++
    setImmediate(() => {
      this.options.onCall?.({ api: 'login', anonymousCode })
      success?.({ anonymousCode, isLogin: false, errMsg: 'login:ok' })
    })
  }

  request (options: RequestOptions): void {
    this.calls.request++
    const method = options.method ?? 'GET'
    const header: Record<string, string> = { 'content-type': 'application/json', ...options.header }
    let url = options.url
    let body: string | undefined
    // As the base library does: GET data becomes the query string, other data the JSON body.
    if (method === 'GET' && typeof options.data === 'object' && options.data !== null) {
      url += (url.includes('?') ? '&' : '?') + new URLSearchParams(options.data as Record<string, string>).toString()
    } else if (options.data !== undefined) {
      body = typeof options.data === 'string' ? options.data : JSON.stringify(options.data)
    }
    const call = { api: 'request' as const, method, url, ...(header.Authorization !== undefined ? { authorization: header.Authorization } : {}) }
    const standIn = this.standIn?.({ method, url, header })
    const answer = standIn !== undefined
      ? new Promise<StandInAnswer>((resolve) => setImmediate(() => resolve(standIn)))
      : fetch(url, {
        method,
        headers: header,
        body,
        ...(options.timeout !== undefined ? { signal: AbortSignal.timeout(options.timeout) } : {})
      }).then(async (res) => ({ statusCode: res.status, header: Object.fromEntries(res.headers), body: await res.text() }))
    answer
      .then((res) => {
        this.options.onCall?.({ ...call, statusCode: res.statusCode })
        // dataType 'json' (the default) parses when it parses; any other dataType leaves the text.
        const data = options.responseType === 'arraybuffer'
          ? new TextEncoder().encode(res.body).buffer
          : (options.dataType ?? 'json') === 'json' ? parseJson(res.body) : res.body
        options.success?.({ statusCode: res.statusCode, data, header: res.header ?? {}, errMsg: 'request:ok' })
      }, (error: Error & { cause?: { code?: string } }) => {
        const errMsg = error.name === 'TimeoutError' ? 'request:fail timeout' : `request:fail ${error.cause?.code ?? error.message}`
        this.options.onCall?.({ ...call, errMsg })
        options.fail?.({ errMsg })
      })
  }

  checkSession ({ success, fail }: Callbacks<{ errMsg: string }>): void {
    this.calls.checkSession++
    this.codes.sessionValid().then((valid) => {
      this.options.onCall?.({ api: 'checkSession', valid })
      if (valid) success?.({ errMsg: 'checkSession:ok' })
      else fail?.({ errMsg: 'checkSession:fail session time out, need relogin' })
    }, () => fail?.({ errMsg: 'checkSession:fail' }))
  }

  /** Storage holds strings, as the base library serialises: what comes back is a copy. */
  getStorageSync (key: string): unknown {
    const value = this.storage.get(key)
    return value === undefined ? '' : JSON.parse(value)
  }

  setStorageSync (key: string, data: unknown): void {
    if (this.failStorageWrites > 0) {
      this.failStorageWrites--
      throw new Error('setStorageSync:fail exceed storage max size 10MB')
    }
    this.storage.set(key, JSON.stringify(data))
  }

  removeStorageSync (key: string): void {
    this.storage.delete(key)
  }

  /** wx.getUserProfile: the profile sealed by WeChat with this user's current session_key. */
  getUserProfile (profile: FakeProfile): Promise<Sealed & { rawData: string, signature: string }> {
    return this.fake('/__fake/user-info', { profile })
  }

  /** The user info of any platform with a session key, sealed with it (rawData signed where the platform signs it: not Baidu). */
  userInfo (profile: FakeProfile): Promise<Sealed & { rawData?: string, signature?: string }> {
    return this.fake('/__fake/user-info', { profile })
  }

  /** WeChat's getPhoneNumber button: the one-time code in its event's detail. */
  async phoneNumberCode (phone?: FakePhone): Promise<string> {
    return (await this.fake<{ code: string }>('/__fake/phone-code', { phone })).code
  }

  /**
   * The getPhoneNumber button of a platform that seals the number: Douyin,
   * Kuaishou, Baidu { encryptedData, iv }; Alipay { response, sign }.
   */
  phoneData (): Promise<Record<string, string>> {
    return this.fake('/__fake/phone')
  }

  private fake<T> (path: string, body: object = {}): Promise<T> {
    return callFake<T>(this.options.fakeUrl, path, { appid: this.options.appid, user: this.options.user, ...body })
  }
}

/** The platform fake's side of login and checkSession, for `user` of `appid` (the app's name at the fake). */
export function fakeCodes (fakeUrl: string, appid: string, user: string): CodeSource {
  return {
    code: async () => (await callFake<{ code: string }>(fakeUrl, '/__fake/login', { appid, user })).code,
    sessionValid: async () => (await callFake<{ valid: boolean }>(fakeUrl, '/__fake/checksession', { appid, user })).valid
  }
}

async function callFake<T> (fakeUrl: string, path: string, body: object): Promise<T> {
  const res = await fetch(`${fakeUrl}${path}`, { method: 'POST', body: JSON.stringify(body) })
  if (!res.ok) throw new Error(`fake platform ${path}: ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** wx.request's default dataType 'json': parsed when it parses, the text otherwise. */
function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}

/**
 * The platform's global over the simulator, with only what the SDK may call:
 * a call to an API the platform does not have (swan.login for the code, my.login)
 * throws, as a wrong guess about a runtime would on the phone.
 */
function present (sim: RuntimeSimulator, platform: Platform): object {
  const wxShaped = {
    login: (options: Callbacks<{ code: string, errMsg: string }>) => sim.login(options),
    request: (options: RequestOptions) => sim.request(options),
    checkSession: (options: Callbacks<{ errMsg: string }>) => sim.checkSession(options),
    getStorageSync: (key: string) => sim.getStorageSync(key),
    setStorageSync: (key: string, data: unknown) => sim.setStorageSync(key, data),
    removeStorageSync: (key: string) => sim.removeStorageSync(key)
  }
  switch (platform) {
    case 'wx': return sim
    case 'qq': case 'ks': return wxShaped
    // tt.login answers { code, anonymousCode, isLogin }; only a user logged in to Douyin gets a code.
    case 'tt': return { ...wxShaped, login: (options: Parameters<RuntimeSimulator['ttLogin']>[0]) => sim.ttLogin(options) }
    // Baidu: swan.getLoginCode gives the code that swan/jscode2sessionkey takes.
    case 'swan': {
      const { login, ...rest } = wxShaped
      return { ...rest, getLoginCode: login }
    }
    case 'my': return alipay(sim)
  }
}

type AlipayFail = { error: number, errorMessage: string, status?: number, headers?: Record<string, string>, data?: unknown }

interface AlipayRequest {
  url: string
  method?: string
  data?: unknown
  headers?: Record<string, string>
  timeout?: number
  dataType?: string
  success?: (result: { status: number, headers: Record<string, string>, data: unknown }) => void
  fail?: (error: AlipayFail) => void
}

/**
 * Alipay's `my`, as its documentation describes it: my.getAuthCode({ scopes })
 * gives authCode; my.request takes `headers` and answers { status, headers, data },
 * an HTTP error status and a body that does not parse as JSON call fail
 * ({ error: 19 } / { error: 14 }, with status, headers and the body's text);
 * storage takes { key } / { key, data } and my.getStorageSync answers { data };
 * there is no checkSession (Alipay has no session_key).
 */
function alipay (sim: RuntimeSimulator): object {
  return {
    getAuthCode ({ scopes, success, fail }: {
      scopes?: unknown
      success?: (result: { authCode: string, authSuccessScopes: unknown[] }) => void
      fail?: (error: AlipayFail) => void
    }): void {
      sim.authScopes.push(scopes)
      sim.login({
        success: ({ code }) => success?.({ authCode: code, authSuccessScopes: [scopes ?? 'auth_base'] }),
        fail: ({ errMsg }) => fail?.({ error: 12, errorMessage: errMsg })
      })
    },
    request (options: AlipayRequest): void {
      const { headers, success, fail, dataType = 'json', ...rest } = options
      if (!['GET', 'POST', 'PUT', 'DELETE'].includes(rest.method ?? 'GET')) {
        setImmediate(() => fail?.({ error: 2, errorMessage: `unsupported method ${rest.method}` }))
        return
      }
      sim.request({
        ...rest,
        ...(headers !== undefined ? { header: headers } : {}),
        dataType: 'text',
        success: ({ statusCode: status, header, data }) => {
          const answer = { status, headers: header, data }
          if (status >= 400) return fail?.({ error: 19, errorMessage: 'http status error', ...answer })
          if (dataType.toLowerCase() !== 'json') return success?.(answer)
          let parsed: unknown
          try { parsed = JSON.parse(data as string) } catch { return fail?.({ error: 14, errorMessage: 'JSON parse data error', ...answer }) }
          success?.({ ...answer, data: parsed })
        },
        fail: ({ errMsg }) => fail?.({ error: /timeout/.test(errMsg) ? 13 : 12, errorMessage: errMsg })
      })
    },
    getStorageSync: ({ key }: { key: string }) => ({ data: sim.storage.has(key) ? sim.getStorageSync(key) : null }),
    setStorageSync ({ key, data }: { key: string, data: unknown }): { error: number, errorMessage: string } | undefined {
      try {
        sim.setStorageSync(key, data)
      } catch {
        return { error: 12, errorMessage: 'storage limit reached' }
      }
      return undefined
    },
    removeStorageSync: ({ key }: { key: string }) => sim.removeStorageSync(key)
  }
}
