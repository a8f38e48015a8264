import type { WechatApp } from '../config/index.js'
import { WechatTimeout } from '../errors.js'
import { deriveKey, open, seal } from '../sealing.js'
import { SingleFlight } from '../single-flight.js'
import type { AppTokenCache } from './app-token-cache.js'
import type { WechatClient } from './client.js'
import { WechatApiError } from './errors.js'

/** errcodes meaning "this access_token is not (or no longer) valid". */
const TOKEN_ERRCODES = new Set([40001, 40014, 42001])
/**
 * The cache (Redis) holds the token sealed under a key derived from the app's
 * AppSecret, which every instance has and Redis never sees: a reader of Redis
 * gets nothing it can call WeChat with. One key per app, derived once.
 */
const tokenKeys = new WeakMap<WechatApp, Buffer>()
function tokenKey (app: WechatApp): Buffer {
  let key = tokenKeys.get(app)
  if (key === undefined) tokenKeys.set(app, key = deriveKey('app-token/v1', app.appid, app.secret))
  return key
}

interface Current { token: string, sealed: string }

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
  private readonly flight = new SingleFlight<Current>()
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
    return (await this.current(app)).token
  }

  /** Runs `call` with the token; when WeChat says the token is invalid, fetches a fresh one and retries once. */
  async withToken<T> (app: WechatApp, call: (accessToken: string) => Promise<T>): Promise<T> {
    const used = await this.current(app)
    try {
      return await call(used.token)
    } catch (error) {
      if (!(error instanceof WechatApiError) || !TOKEN_ERRCODES.has(error.errcode)) throw error
      await this.cache.deleteIf(app.appid, used.sealed)
      return call(await this.get(app))
    }
  }

  private async current (app: WechatApp): Promise<Current> {
    const cached = await this.cached(app)
    if (cached !== undefined) return cached
    return this.flight.run(app.appid, () => this.fetchShared(app))
  }

  private async cached (app: WechatApp): Promise<Current | undefined> {
    const entry = await this.cache.get(app.appid)
    if (entry === undefined || entry.expiresAt <= this.now()) return undefined
    const token = open(tokenKey(app), entry.sealed, app.appid)
    return token === undefined ? undefined : { token, sealed: entry.sealed }
  }

  private async fetchShared (app: WechatApp): Promise<Current> {
    const deadline = this.now() + this.waitMs
    while (this.now() < deadline) {
      const release = await this.cache.tryLock(app.appid, this.lockTtlMs)
      if (release !== undefined) {
        try {
          // Another instance may have stored one while we waited for the lock.
          const cached = await this.cached(app)
          if (cached !== undefined) return cached
          const fresh = await this.client.stableToken(app)
          const sealed = seal(tokenKey(app), fresh.accessToken, app.appid)
          await this.cache.set(app.appid, { sealed, expiresAt: this.now() + fresh.expiresInSeconds * 1000 - this.refreshMarginMs })
          return { token: fresh.accessToken, sealed }
        } finally {
          await release()
        }
      }
      await new Promise((resolve) => setTimeout(resolve, this.pollMs))
      const cached = await this.cached(app)
      if (cached !== undefined) return cached
    }
    throw new WechatTimeout()
  }
}
