import type { WechatApp } from '../config.js'
import { AppUnknown } from '../auth/errors.js'
import { WechatApiError, type WechatClient } from './client.js'
import { WechatTimeout } from './errors.js'
import { SingleFlight } from './single-flight.js'
import type { TokenStore } from './token-store.js'

/** errcodes meaning "this access_token is not (or no longer) valid". */
const TOKEN_ERRCODES = new Set([40001, 40014, 42001])

export interface AccessTokenOptions {
  /** Stop using a token this long before WeChat says it expires (WeChat renews 5 minutes early). */
  refreshMarginMs?: number
  /** How long a fetcher may hold the shared lock. */
  lockTtlMs?: number
  /** How long a caller waits for another instance's fetch before giving up. */
  waitMs?: number
  pollMs?: number
}

/**
 * The app's access_token from cgi-bin/stable_token, cached per appid until
 * shortly before expiry. One fetch at a time per app: in this process through
 * a single flight, across instances through the store's lock (Redis).
 */
export class AccessTokens {
  private readonly apps: Map<string, WechatApp>
  private readonly flight = new SingleFlight<string>()
  private readonly refreshMarginMs: number
  private readonly lockTtlMs: number
  private readonly waitMs: number
  private readonly pollMs: number

  constructor (private readonly client: Pick<WechatClient, 'stableToken'>, private readonly store: TokenStore, apps: WechatApp[], options: AccessTokenOptions = {}) {
    this.apps = new Map(apps.map((app) => [app.appid, app]))
    this.refreshMarginMs = options.refreshMarginMs ?? 5 * 60_000
    this.lockTtlMs = options.lockTtlMs ?? 10_000
    this.waitMs = options.waitMs ?? 10_000
    this.pollMs = options.pollMs ?? 50
  }

  async get (appid: string): Promise<string> {
    const cached = await this.store.get(appid)
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.accessToken
    return this.flight.run(appid, () => this.fetchShared(appid))
  }

  /** Runs `call` with the token; when WeChat says the token is invalid, fetches a fresh one and retries once. */
  async withToken<T> (appid: string, call: (accessToken: string) => Promise<T>): Promise<T> {
    const token = await this.get(appid)
    try {
      return await call(token)
    } catch (error) {
      if (!(error instanceof WechatApiError) || !TOKEN_ERRCODES.has(error.errcode)) throw error
      await this.store.deleteIf(appid, token)
      return call(await this.get(appid))
    }
  }

  private async fetchShared (appid: string): Promise<string> {
    const app = this.apps.get(appid)
    if (app === undefined) throw new AppUnknown(appid)
    const deadline = Date.now() + this.waitMs
    while (Date.now() < deadline) {
      const release = await this.store.tryLock(appid, this.lockTtlMs)
      if (release !== undefined) {
        try {
          // Another instance may have stored one while we waited for the lock.
          const cached = await this.store.get(appid)
          if (cached !== undefined && cached.expiresAt > Date.now()) return cached.accessToken
          const fresh = await this.client.stableToken(app)
          const expiresAt = Date.now() + fresh.expiresInSeconds * 1000 - this.refreshMarginMs
          await this.store.set(appid, { accessToken: fresh.accessToken, expiresAt })
          return fresh.accessToken
        } finally {
          await release()
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs))
      const cached = await this.store.get(appid)
      if (cached !== undefined && cached.expiresAt > Date.now()) return cached.accessToken
    }
    throw new WechatTimeout()
  }
}
