import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'

export interface CachedAppToken {
  /** The access_token sealed under a key derived from the app's secret (see WechatAppTokens): never usable as read from the cache. */
  sealed: string
  /** Epoch ms after which the token must not be used. */
  expiresAt: number
}

/** Where the apps' WeChat access_tokens are cached, and the lock that lets one fetcher at a time refresh them. */
export interface AppTokenCache {
  get: (appid: string) => Promise<CachedAppToken | undefined>
  set: (appid: string, token: CachedAppToken) => Promise<void>
  /** Forgets the token only if it is still this one (another instance may have replaced it). */
  deleteIf: (appid: string, sealed: string) => Promise<void>
  /** Becomes the one fetcher for this app, or returns undefined when another is. */
  tryLock: (appid: string, ttlMs: number) => Promise<(() => Promise<void>) | undefined>
}

/** One process: the single flight in WechatAppTokens is the lock. */
export class MemoryAppTokenCache implements AppTokenCache {
  private readonly tokens = new Map<string, CachedAppToken>()
  private readonly locks = new Set<string>()

  async get (appid: string): Promise<CachedAppToken | undefined> { return this.tokens.get(appid) }
  async set (appid: string, token: CachedAppToken): Promise<void> { this.tokens.set(appid, token) }
  async deleteIf (appid: string, sealed: string): Promise<void> {
    if (this.tokens.get(appid)?.sealed === sealed) this.tokens.delete(appid)
  }

  async tryLock (appid: string): Promise<(() => Promise<void>) | undefined> {
    if (this.locks.has(appid)) return undefined
    this.locks.add(appid)
    return async () => { this.locks.delete(appid) }
  }
}

// Compare-and-delete: only the holder's value is removed.
const DELETE_IF_EQUAL = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

/** Several instances: the token and the fetch lock live in Redis, keyed by appid. */
export class RedisAppTokenCache implements AppTokenCache {
  constructor (private readonly redis: Redis, private readonly prefix = 'weapp-auth:') {}

  private tokenKey (appid: string): string { return `${this.prefix}wechat:access_token:${appid}` }
  private lockKey (appid: string): string { return `${this.prefix}wechat:access_token:lock:${appid}` }

  async get (appid: string): Promise<CachedAppToken | undefined> {
    const text = await this.redis.get(this.tokenKey(appid))
    return text === null ? undefined : JSON.parse(text) as CachedAppToken
  }

  async set (appid: string, token: CachedAppToken): Promise<void> {
    const ttl = Math.max(1, token.expiresAt - Date.now())
    await this.redis.set(this.tokenKey(appid), JSON.stringify(token), 'PX', ttl)
  }

  async deleteIf (appid: string, sealed: string): Promise<void> {
    const key = this.tokenKey(appid)
    const text = await this.redis.get(key)
    if (text !== null && (JSON.parse(text) as CachedAppToken).sealed === sealed) {
      await this.redis.eval(DELETE_IF_EQUAL, 1, key, text)
    }
  }

  async tryLock (appid: string, ttlMs: number): Promise<(() => Promise<void>) | undefined> {
    const key = this.lockKey(appid)
    const holder = randomBytes(16).toString('hex')
    const acquired = await this.redis.set(key, holder, 'PX', ttlMs, 'NX')
    if (acquired !== 'OK') return undefined
    // A failed release is harmless: the lock expires by itself.
    return async () => { await this.redis.eval(DELETE_IF_EQUAL, 1, key, holder).catch(() => {}) }
  }
}
