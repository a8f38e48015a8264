import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { deriveKey, open, seal } from '../sealing.js'

// What one wx.login() code bought: kept for a short while so that a client
// retrying the same code (a double tap, a lost response, another instance
// behind the load balancer) gets the same grant, never a second session.
// In Redis it is sealed under a key derived from the code itself: Redis alone
// holds no usable token.

export interface CodeRef {
  /** Names the code in the cache: a hash, never the code. */
  id: string
  /** The key a grant is sealed under in a shared cache, derived from the code (only when one is needed). */
  key: () => Buffer
}

export interface KeptLogin<T = unknown> {
  result: T
  sessionId: string
  /** Service clock (ms): the retry window closes here. */
  until: number
}

export const PENDING = 'pending'

/** Where grants (and the marker of an exchange in flight) are kept; Redis with several instances. */
export interface CodeClaimCache {
  /** The grant, PENDING while an exchange is in flight, or undefined. */
  get: (ref: CodeRef) => Promise<KeptLogin | typeof PENDING | undefined>
  /** Marks an exchange in flight; false when another holder already has (or has finished with) this code. */
  claim: (ref: CodeRef, ttlMs: number) => Promise<boolean>
  put: (ref: CodeRef, kept: KeptLogin, ttlMs: number) => Promise<void>
  /** Forgets a claim whose exchange failed (only the marker, never a kept grant). */
  release: (ref: CodeRef) => Promise<void>
}

const MAX_LOCAL_ENTRIES = 10_000

export function codeRef (appid: string, code: string): CodeRef {
  return {
    id: createHash('sha256').update(`weapp-auth/login-code\0${appid}\0${code}`).digest('base64url'),
    key: () => deriveKey('login-grant/v1', appid, code)
  }
}

export interface CodeClaimOptions {
  now: () => number
  /** How long a completed grant is handed out again. */
  windowMs: number
  /** How long an exchange may stay in flight (WeChat's deadline, plus the database's). */
  inFlightMs: number
  pollMs?: number
}

export class CodeClaims {
  /**
   * `mirror`: with a shared cache (Redis), this instance also keeps its own
   * grants in memory, so a retry reaching it finds them even when Redis failed
   * between the claim and the grant (its stale claim would otherwise be waited out).
   */
  constructor (
    private readonly cache: CodeClaimCache, private readonly options: CodeClaimOptions, private readonly mirror?: CodeClaimCache
  ) {}

  /** Becomes the one exchange of this code, or returns the grant another exchange made (undefined: it failed). */
  async claimOrWait<T> (ref: CodeRef): Promise<{ claimed: true } | { claimed: false, kept?: KeptLogin<T> }> {
    const mine = await this.keptHere<T>(ref)
    if (mine !== undefined) return { claimed: false, kept: mine }
    if (await this.cache.claim(ref, this.options.inFlightMs)) return { claimed: true }
    const deadline = this.options.now() + this.options.inFlightMs
    for (;;) {
      const value = await this.cache.get(ref)
      if (value !== PENDING) return { claimed: false, kept: value as KeptLogin<T> | undefined }
      const here = await this.keptHere<T>(ref)
      if (here !== undefined) return { claimed: false, kept: here }
      if (this.options.now() >= deadline) return { claimed: false }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50))
    }
  }

  async keep<T> (ref: CodeRef, result: T, sessionId: string): Promise<void> {
    const kept: KeptLogin<T> = { result, sessionId, until: this.options.now() + this.options.windowMs }
    await this.mirror?.put(ref, kept, this.options.windowMs)
    await this.cache.put(ref, kept, this.options.windowMs)
  }

  async release (ref: CodeRef): Promise<void> {
    await this.cache.release(ref)
  }

  isOpen (kept: KeptLogin): boolean {
    return this.options.now() < kept.until
  }

  private async keptHere<T> (ref: CodeRef): Promise<KeptLogin<T> | undefined> {
    const value = await this.mirror?.get(ref)
    return value === undefined || value === PENDING ? undefined : value as KeptLogin<T>
  }
}

/** One process: entries expire by the service clock; nothing leaves the process, so nothing is sealed. */
export class MemoryCodeClaimCache implements CodeClaimCache {
  private readonly entries = new Map<string, { value: KeptLogin | typeof PENDING, until: number }>()

  constructor (private readonly now: () => number = Date.now) {}

  async get (ref: CodeRef): Promise<KeptLogin | typeof PENDING | undefined> {
    const entry = this.entries.get(ref.id)
    return entry !== undefined && entry.until > this.now() ? entry.value : undefined
  }

  async claim (ref: CodeRef, ttlMs: number): Promise<boolean> {
    if (await this.get(ref) !== undefined) return false
    this.set(ref.id, PENDING, ttlMs)
    return true
  }

  async put (ref: CodeRef, kept: KeptLogin, ttlMs: number): Promise<void> {
    this.set(ref.id, kept, ttlMs)
  }

  async release (ref: CodeRef): Promise<void> {
    if (this.entries.get(ref.id)?.value === PENDING) this.entries.delete(ref.id)
  }

  private set (id: string, value: KeptLogin | typeof PENDING, ttlMs: number): void {
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.until > now && this.entries.size < MAX_LOCAL_ENTRIES) break
      this.entries.delete(key)
    }
    this.entries.delete(id)
    this.entries.set(id, { value, until: now + ttlMs })
  }
}

const DELETE_IF_PENDING = `if redis.call('get', KEYS[1]) == '${PENDING}' then return redis.call('del', KEYS[1]) else return 0 end`

/** Several instances: a retry that reaches another instance finds the grant here, sealed under the code's key. */
export class RedisCodeClaimCache implements CodeClaimCache {
  constructor (private readonly redis: Redis, private readonly prefix: string) {}

  private name (ref: CodeRef): string { return `${this.prefix}login:${ref.id}` }

  async get (ref: CodeRef): Promise<KeptLogin | typeof PENDING | undefined> {
    const value = await this.redis.get(this.name(ref))
    if (value === null) return undefined
    if (value === PENDING) return PENDING
    const plaintext = open(ref.key(), value, ref.id)
    return plaintext === undefined ? undefined : JSON.parse(plaintext) as KeptLogin
  }

  async claim (ref: CodeRef, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.name(ref), PENDING, 'PX', ttlMs, 'NX')) === 'OK'
  }

  async put (ref: CodeRef, kept: KeptLogin, ttlMs: number): Promise<void> {
    await this.redis.set(this.name(ref), seal(ref.key(), JSON.stringify(kept), ref.id), 'PX', ttlMs)
  }

  async release (ref: CodeRef): Promise<void> {
    await this.redis.eval(DELETE_IF_PENDING, 1, this.name(ref))
  }
}
