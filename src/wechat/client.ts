import { errors as undiciErrors, Pool } from 'undici'
import type { WechatApp } from '../config/index.js'
import { decodeBase64, sessionKeySignature } from './data-crypto.js'
import { WechatApiError, WechatTimeout, WechatUnavailable, wechatOverloaded } from './errors.js'
import { Slots } from './slots.js'

export interface Code2Session {
  openid: string
  sessionKey: string
  unionid?: string
}

export interface WechatClientOptions {
  apiBase: string
  /** Upper bound for one call on the wire, retries included (time queued for a connection is bounded apart). */
  timeoutMs: number
  /** Attempts when WeChat answers -1 (busy); only that errcode is retried. */
  busyAttempts?: number
  busyBackoffMs?: number
  /** Calls on the wire at once, one keep-alive connection each. */
  maxConnections?: number
  /** Calls admitted at once (on the wire plus queued); more are refused with 503 WECHAT_OVERLOADED. */
  maxPending?: number
  /** Told of every call: the API, `ok` / `errcode_<n>` (a known errcode, else `errcode_other`) / `timeout` / `unavailable` / `overloaded`, and its time on the wire. */
  observe?: (api: string, outcome: string, seconds?: number) => void
}

export const DEFAULT_MAX_CONNECTIONS = 256
export const DEFAULT_MAX_PENDING = 1024

export interface StableToken {
  accessToken: string
  expiresInSeconds: number
}

export interface PhoneInfo {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
  watermark: { appid: string, timestamp: number }
}

type Body = Record<string, unknown> & { errcode?: number, errmsg?: string }
interface Call { method: 'GET' | 'POST', path: string, query: Record<string, string>, body?: object }

/** openid and unionid: WeChat's are 28 URL-safe characters; the columns hold 128. */
const WECHAT_ID = /^[A-Za-z0-9_-]{1,128}$/

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

// The errcodes the service reads (and the access_token ones): each its own metric
// label. Any other number WeChat sends is `errcode_other`: a label per value
// would let a lying WeChat mint series without bound.
const LABELLED_ERRCODES = new Set([-1, 40001, 40013, 40014, 40029, 40125, 40163, 40226, 41002, 41004, 42001, 45011, 87009])

function outcomeOf (error: unknown): string {
  if (error instanceof WechatApiError) return LABELLED_ERRCODES.has(error.errcode) ? `errcode_${error.errcode}` : 'errcode_other'
  return error instanceof WechatTimeout ? 'timeout' : 'unavailable'
}

function isTimeout (error: unknown): boolean {
  const { name, code } = error as { name?: string, code?: string }
  return name === 'TimeoutError' || name === 'AbortError' || (code !== undefined && TIMEOUT_CODES.has(code))
}

/**
 * WeChat's server API over one keep-alive connection pool. It speaks WeChat:
 * a non-zero errcode is thrown as WechatApiError for the caller to read, a
 * failure to get an answer as a transport error. URLs carry secrets: they are
 * never logged.
 */
export class WechatClient {
  private readonly pool: Pool
  private readonly slots: Slots
  private readonly busyAttempts: number
  private readonly busyBackoffMs: number

  constructor (private readonly options: WechatClientOptions) {
    const connections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    // Logins waiting on a slow WeChat are I/O, not work: hundreds at once must not fail for want of a connection.
    this.slots = new Slots(connections, Math.max(connections, options.maxPending ?? DEFAULT_MAX_PENDING), wechatOverloaded)
    this.pool = new Pool(options.apiBase, {
      connections,
      connectTimeout: Math.min(options.timeoutMs, 3000),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000
    })
    this.busyAttempts = options.busyAttempts ?? 3
    this.busyBackoffMs = options.busyBackoffMs ?? 100
  }

  async code2session (app: WechatApp, code: string): Promise<Code2Session> {
    const body = await this.call({ method: 'GET', path: '/sns/jscode2session', query: { appid: app.appid, secret: app.secret, js_code: code, grant_type: 'authorization_code' } })
    // A success may carry no errcode at all: openid is what marks it. Every field
    // is checked for the shape WeChat gives it: an empty or odd openid would be
    // one account shared by everyone WeChat (or whatever answers) says it for.
    const { openid, session_key: sessionKey, unionid } = body
    if (typeof openid !== 'string' || !WECHAT_ID.test(openid) || typeof sessionKey !== 'string' || decodeBase64(sessionKey)?.length !== 16 ||
        (unionid !== undefined && unionid !== '' && (typeof unionid !== 'string' || !WECHAT_ID.test(unionid)))) throw new WechatUnavailable()
    return { openid, sessionKey, ...(typeof unionid === 'string' && unionid !== '' ? { unionid } : {}) }
  }

  /** cgi-bin/stable_token: the same token until it expires (normal mode), so instances do not undo each other. */
  async stableToken (app: WechatApp): Promise<StableToken> {
    const body = await this.call({ method: 'POST', path: '/cgi-bin/stable_token', query: {}, body: { grant_type: 'client_credential', appid: app.appid, secret: app.secret, force_refresh: false } })
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') throw new WechatUnavailable()
    return { accessToken: body.access_token, expiresInSeconds: body.expires_in }
  }

  /** The getPhoneNumber button's code (not a wx.login code) for the user's phone. */
  async getUserPhoneNumber (accessToken: string, code: string): Promise<PhoneInfo> {
    const body = await this.call({ method: 'POST', path: '/wxa/business/getuserphonenumber', query: { access_token: accessToken }, body: { code } })
    const info = body.phone_info as Partial<PhoneInfo> | null | undefined
    // Every field checked: a partial answer is WeChat's fault (502), never a TypeError of ours.
    if (typeof info?.phoneNumber !== 'string' || typeof info.purePhoneNumber !== 'string' || typeof info.countryCode !== 'string' ||
        typeof info.watermark?.appid !== 'string' || typeof info.watermark.timestamp !== 'number') throw new WechatUnavailable()
    return info as PhoneInfo
  }

  /** wxa/checksession: is this stored session_key still the user's current one? */
  async checkSession (accessToken: string, openid: string, sessionKey: string): Promise<boolean> {
    try {
      await this.call({ method: 'GET', path: '/wxa/checksession', query: { access_token: accessToken, openid, signature: sessionKeySignature(sessionKey), sig_method: 'hmac_sha256' } })
      return true
    } catch (error) {
      if (error instanceof WechatApiError && error.errcode === 87009) return false
      throw error
    }
  }

  async close (): Promise<void> {
    await this.pool.close()
  }

  /** One API call: a connection slot first (bounded wait), then the call on the wire. */
  private async call (call: Call): Promise<Body> {
    const api = call.path.slice(call.path.lastIndexOf('/') + 1)
    const observe = this.options.observe
    let release: () => void
    try {
      release = await this.slots.acquire(this.options.timeoutMs)
    } catch (error) {
      observe?.(api, 'overloaded')
      throw error
    }
    const started = performance.now()
    try {
      const body = await this.callOnWire(call)
      observe?.(api, 'ok', (performance.now() - started) / 1000)
      return body
    } catch (error) {
      observe?.(api, outcomeOf(error), (performance.now() - started) / 1000)
      throw error
    } finally {
      release()
    }
  }

  /** Retried only on -1 (busy), while a retry can finish within the deadline. */
  private async callOnWire (call: Call): Promise<Body> {
    const deadline = Date.now() + this.options.timeoutMs
    // A timer cleared when the call ends: AbortSignal.timeout would leave one per login for the GC.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs)
    try {
      for (let attempt = 1; ; attempt++) {
        const body = await this.once(call, controller.signal)
        const errcode = typeof body.errcode === 'number' ? body.errcode : 0
        if (errcode === 0) return body
        const backoffMs = this.busyBackoffMs * 2 ** (attempt - 1) * (0.5 + Math.random())
        if (errcode === -1 && attempt < this.busyAttempts && Date.now() + backoffMs < deadline) {
          await new Promise((resolve) => setTimeout(resolve, backoffMs))
          continue
        }
        throw new WechatApiError(errcode, typeof body.errmsg === 'string' ? body.errmsg : undefined)
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private async once ({ method, path, query, body }: Call, signal: AbortSignal): Promise<Body> {
    let text: string
    try {
      const search = new URLSearchParams(query).toString()
      const res = await this.pool.request({
        method,
        path: search === '' ? path : `${path}?${search}`,
        signal,
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {})
      })
      text = await res.body.text()
      if (res.statusCode !== 200) throw new WechatUnavailable()
    } catch (error) {
      if (error instanceof WechatUnavailable) throw error
      if (isTimeout(error) || signal.aborted) throw new WechatTimeout()
      if (error instanceof undiciErrors.UndiciError || (error as { code?: string }).code !== undefined) throw new WechatUnavailable()
      throw error
    }
    try {
      const body: unknown = JSON.parse(text)
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object')
      return body as Body
    } catch {
      throw new WechatUnavailable()
    }
  }
}
