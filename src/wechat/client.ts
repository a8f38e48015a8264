import type { WechatApp } from '../config/index.js'
import { RETRY_AFTER_WECHAT_OVERLOADED_SECONDS, WechatOverloaded, WechatTimeout, WechatUnavailable } from '../errors.js'
import { Transport, TransportOverloaded, TransportTimeout, TransportUnavailable, jsonObject, type Answer } from '../platforms/transport.js'
import { decodeBase64, sessionKeySignature } from './data-crypto.js'
import { WechatApiError } from './errors.js'

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
  /**
   * Told of every call: the API, `ok` / `errcode_<n>` (a known errcode, else `errcode_other`) / `timeout` / `unavailable` /
   * `overloaded`, and its time on the wire.
   */
  observe?: (api: string, outcome: string, seconds?: number) => void
}

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

// The errcodes the service reads (and the access_token ones): each its own metric
// label. Any other number WeChat sends is `errcode_other`: a label per value
// would let a lying WeChat mint series without bound.
const LABELLED_ERRCODES = new Set([-1, 40001, 40013, 40014, 40029, 40125, 40163, 40226, 41002, 41004, 42001, 45011, 87009])

function outcomeOf (error: unknown): string {
  if (error instanceof WechatApiError) return LABELLED_ERRCODES.has(error.errcode) ? `errcode_${error.errcode}` : 'errcode_other'
  return 'unavailable'
}

/** WeChat's envelope: a non-zero errcode is a refusal; a success may carry no errcode at all. */
function readWechat (answer: Answer): Body {
  const body: Body = jsonObject(answer)
  const errcode = typeof body.errcode === 'number' ? body.errcode : 0
  if (errcode !== 0) throw new WechatApiError(errcode, typeof body.errmsg === 'string' ? body.errmsg : undefined)
  return body
}

const isBusy = (error: unknown): boolean => error instanceof WechatApiError && error.errcode === -1

/** The transport's neutral failures, as the WeChat errors the services and clients know. */
function asWechatError (error: unknown): unknown {
  if (error instanceof TransportTimeout) return new WechatTimeout()
  if (error instanceof TransportUnavailable) return new WechatUnavailable()
  if (error instanceof TransportOverloaded) return new WechatOverloaded()
  return error
}

/**
 * WeChat's server API over one keep-alive connection pool. It speaks WeChat:
 * a non-zero errcode is thrown as WechatApiError for the caller to read, a
 * failure to get an answer as a transport error. URLs carry secrets: they are
 * never logged.
 */
export class WechatClient {
  private readonly transport: Transport

  constructor (private readonly options: WechatClientOptions) {
    const { timeoutMs, maxConnections, maxPending, observe, busyAttempts, busyBackoffMs } = options
    this.transport = new Transport({
      timeoutMs,
      maxConnections,
      maxPending,
      retryAfterSeconds: RETRY_AFTER_WECHAT_OVERLOADED_SECONDS,
      observe,
      outcomeOf,
      retryIf: isBusy,
      busyAttempts,
      busyBackoffMs
    })
    // A bad WECHAT_API_BASE fails at start, not at the first login.
    this.transport.open(options.apiBase)
  }

  /** Calls admitted (on the wire plus queued). */
  get slots (): Transport['slots'] {
    return this.transport.slots
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
    await this.transport.close()
  }

  private async call ({ method, path, query, body }: Call): Promise<Body> {
    const api = path.slice(path.lastIndexOf('/') + 1)
    try {
      return await this.transport.call({
        api, origin: this.options.apiBase, method, path, query, ...(body !== undefined ? { json: body } : {})
      }, readWechat)
    } catch (error) {
      throw asWechatError(error)
    }
  }
}
