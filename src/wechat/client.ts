import { errors as undiciErrors, Pool } from 'undici'
import type { WechatApp } from '../config.js'
import { WechatTimeout, WechatUnavailable, errorForErrcode } from './errors.js'

export interface Code2Session {
  openid: string
  sessionKey: string
  unionid?: string
}

export interface WechatClientOptions {
  apiBase: string
  /** Upper bound for one call, retries included. */
  timeoutMs: number
  /** Attempts when WeChat answers -1 (busy); only that errcode is retried. */
  busyAttempts?: number
  busyBackoffMs?: number
  connections?: number
}

type Body = Record<string, unknown> & { errcode?: number, errmsg?: string }

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

function isTimeout (error: unknown): boolean {
  const { name, code } = error as { name?: string, code?: string }
  return name === 'TimeoutError' || name === 'AbortError' || (code !== undefined && TIMEOUT_CODES.has(code))
}

/** WeChat's server API over one keep-alive connection pool. URLs carry secrets: they are never logged. */
export class WechatClient {
  private readonly pool: Pool
  private readonly busyAttempts: number
  private readonly busyBackoffMs: number

  constructor (private readonly options: WechatClientOptions) {
    this.pool = new Pool(options.apiBase, {
      connections: options.connections ?? 32,
      connectTimeout: Math.min(options.timeoutMs, 3000),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000
    })
    this.busyAttempts = options.busyAttempts ?? 3
    this.busyBackoffMs = options.busyBackoffMs ?? 100
  }

  async code2session (app: WechatApp, code: string): Promise<Code2Session> {
    const body = await this.get('/sns/jscode2session', { appid: app.appid, secret: app.secret, js_code: code, grant_type: 'authorization_code' })
    // A success may carry no errcode at all: openid is what marks it.
    if (typeof body.openid !== 'string' || typeof body.session_key !== 'string') throw new WechatUnavailable()
    return {
      openid: body.openid,
      sessionKey: body.session_key,
      ...(typeof body.unionid === 'string' && body.unionid !== '' ? { unionid: body.unionid } : {})
    }
  }

  async close (): Promise<void> {
    await this.pool.close()
  }

  private async get (path: string, query: Record<string, string>): Promise<Body> {
    const deadline = Date.now() + this.options.timeoutMs
    const signal = AbortSignal.timeout(this.options.timeoutMs)
    for (let attempt = 1; ; attempt++) {
      const body = await this.getOnce(path, query, signal)
      const errcode = typeof body.errcode === 'number' ? body.errcode : 0
      if (errcode === 0) return body
      const backoffMs = this.busyBackoffMs * 2 ** (attempt - 1) * (0.5 + Math.random())
      // Retry only "busy", and only while a retry can still finish within the deadline.
      if (errcode !== -1 || attempt >= this.busyAttempts || Date.now() + backoffMs >= deadline) throw errorForErrcode(errcode)
      await new Promise((resolve) => setTimeout(resolve, backoffMs))
    }
  }

  private async getOnce (path: string, query: Record<string, string>, signal: AbortSignal): Promise<Body> {
    let text: string
    try {
      const res = await this.pool.request({ method: 'GET', path: `${path}?${new URLSearchParams(query)}`, signal })
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
      if (typeof body !== 'object' || body === null) throw new Error('not an object')
      return body as Body
    } catch {
      throw new WechatUnavailable()
    }
  }
}
