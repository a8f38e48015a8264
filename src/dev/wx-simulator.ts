import type { WxLike } from '../../client/dist/index.js'
import type { FakePhone, FakeProfile, Sealed } from './fake-wechat-data.js'

/**
 * The mini-program runtime's `wx`, in Node, for the tests and the demo: what
 * the client SDK calls, with the base library's callback shapes. The WeChat
 * side of wx.login / checkSession / getUserProfile / getPhoneNumber is the fake
 * WeChat, reached over its /__fake HTTP API, so the fake may run in another
 * process (the demo's service). wx.request is real HTTP.
 */

export type WxCall =
  | { api: 'login', code?: string, errMsg?: string }
  | { api: 'request', method: string, url: string, authorization?: string, statusCode?: number, errMsg?: string }
  | { api: 'checkSession', valid: boolean }

interface Callbacks<Result> {
  success?: (result: Result) => void
  fail?: (error: { errMsg: string }) => void
}

type RequestOptions = Parameters<WxLike['request']>[0]

export interface WxSimulatorOptions {
  /** The fake WeChat's URL. */
  wechatUrl: string
  appid: string
  /** Who holds the phone: the fake WeChat's user. */
  user: string
  /** The phone's storage; two simulators sharing it are one mini-program before and after a restart. */
  storage?: Map<string, string>
  /** Sees every call after it completes (the demo prints them). */
  onCall?: (call: WxCall) => void
}

/** What a stand-in for the network answers instead: the status, the body's text, headers. */
export interface StandInAnswer {
  statusCode: number
  body: string
  header?: Record<string, string>
}

export class WxSimulator implements WxLike {
  readonly calls = { login: 0, request: 0, checkSession: 0 }
  readonly storage: Map<string, string>
  /** The next this-many wx.login() calls fail, as they do offline. */
  failLogins = 0
  /** The next this-many wx.login() calls never call back (seen on real devices after a resume). */
  hangLogins = 0
  /** The next this-many wx.setStorageSync() calls throw, as they do when storage is full. */
  failStorageWrites = 0
  /**
   * A stand-in between the phone and the network (a captive portal, a gateway):
   * what it answers is what wx.request reports; undefined lets the request through.
   */
  standIn?: (request: { method: string, url: string, header: Record<string, string> }) => StandInAnswer | undefined
  /** Replaces the code wx.login() hands out (a code already used elsewhere, a forged one). */
  codeFilter?: (code: string) => string | Promise<string>

  constructor (private readonly options: WxSimulatorOptions) {
    this.storage = options.storage ?? new Map()
  }

  login ({ success, fail }: Callbacks<{ code: string, errMsg: string }>): void {
    this.calls.login++
    const done = (call: WxCall & { api: 'login' }): void => {
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
    this.wechat<{ code: string }>('/__fake/login')
      .then(async ({ code }) => ({ api: 'login' as const, code: this.codeFilter === undefined ? code : await this.codeFilter(code) }))
      .then(done, (error: Error) => done({ api: 'login', errMsg: `login:fail ${error.message}` }))
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
      : fetch(url, { method, headers: header, body, ...(options.timeout !== undefined ? { signal: AbortSignal.timeout(options.timeout) } : {}) })
        .then(async (res) => ({ statusCode: res.status, header: Object.fromEntries(res.headers), body: await res.text() }))
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
    this.wechat<{ valid: boolean }>('/__fake/checksession').then(({ valid }) => {
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
    return this.wechat('/__fake/user-info', { profile })
  }

  /** The getPhoneNumber button: the one-time code in its event's detail. */
  async phoneNumberCode (phone?: FakePhone): Promise<string> {
    return (await this.wechat<{ code: string }>('/__fake/phone-code', { phone })).code
  }

  private async wechat<T> (path: string, body: object = {}): Promise<T> {
    const res = await fetch(`${this.options.wechatUrl}${path}`, {
      method: 'POST',
      body: JSON.stringify({ appid: this.options.appid, user: this.options.user, ...body })
    })
    if (!res.ok) throw new Error(`fake WeChat ${path}: ${res.status} ${await res.text()}`)
    return await res.json() as T
  }
}

/** wx.request's default dataType 'json': parsed when it parses, the text otherwise. */
function parseJson (text: string): unknown {
  try { return JSON.parse(text) } catch { return text }
}
