import type { WechatApp } from '../config.js'
import { SingleFlight } from '../single-flight.js'
import type { AppTokenCache } from './app-token-cache.js'
import type { WechatClient } from './client.js'
import { WechatApiError, WechatTimeout } from './errors.js'

/** errcodes meaning "this access_token is not (or no longer) valid". */
const TOKEN_ERRCODES = new Set([40001, 40014, 42001])

export interface AppTokenOptions {
  /** Stop using a token this long before WeChat says it expires (WeChat renews 5 minutes early). */
  refreshMarginMs?: number
  /** How long a fetcher may hold the shared lock. */
  lockTtlMs?: number
  /** How long a caller waits for another instance's fetch before giving up. */
  waitMs?: number
  pollMs?: number
  now?: () => number
}

/**
 * The app's WeChat access_token (its credential for server APIs, not our JWT)
 * from cgi-bin/stable_token, cached per appid until shortly before expiry. One
 * fetch at a time per app: in this process through a single flight, across
 * instances through the cache's lock (Redis).
 */
export class WechatAppTokens {
  private readonly flight = new SingleFlight<string>()
  private readonly refreshMarginMs: number
  private readonly lockTtlMs: number
  private readonly waitMs: number
  private readonly pollMs: number
  private readonly now: () => number

  constructor (private readonly client: Pick<WechatClient, 'stableToken'>, private readonly cache: AppTokenCache, options: AppTokenOptions = {}) {
    this.refreshMarginMs = options.refreshMarginMs ?? 5 * 60_000
    this.lockTtlMs = options.lockTtlMs ?? 10_000
    this.waitMs = options.waitMs ?? 10_000
    this.pollMs = options.pollMs ?? 50
    this.now = options.now ?? Date.now
  }

  async get (app: WechatApp): Promise<string> {
    const cached = await this.cache.get(app.appid)
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.accessToken
    return this.flight.run(app.appid, () => this.fetchShared(app))
  }

  /** Runs `call` with the token; when WeChat says the token is invalid, fetches a fresh one and retries once. */
  async withToken<T> (app: WechatApp, call: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await this.get(app)
    try {
      return await call(token)
    } catch (error) {
      if (!(error instanceof WechatApiError) || !TOKEN_ERRCODES.has(error.errcode)) throw error
      await this.cache.deleteIf(app.appid, token)
      return call(await this.get(app))
    }
  }

  private async fetchShared (app: WechatApp): Promise<string> {
    const deadline = this.now() + this.waitMs
    while (this.now() < deadline) {
      const release = await this.cache.tryLock(app.appid, this.lockTtlMs)
      if (release !== undefined) {
        try {
          // Another instance may have stored one while we waited for the lock.
          const cached = await this.cache.get(app.appid)
          if (cached !== undefined && cached.expiresAt > this.now()) return cached.accessToken
          const fresh = await this.client.stableToken(app)
          const expiresAt = this.now() + fresh.expiresInSeconds * 1000 - this.refreshMarginMs
          await this.cache.set(app.appid, { accessToken: fresh.accessToken, expiresAt })
          return fresh.accessToken
        } finally {
          await release()
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs))
      const cached = await this.cache.get(app.appid)
      if (cached !== undefined && cached.expiresAt > this.now()) return cached.accessToken
    }
    throw new WechatTimeout()
  }
}
