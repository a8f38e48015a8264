import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'

// What one wx.login() code bought: kept for a short while so that a client
// retrying the same code (a double tap, a lost response, another instance
// behind the load balancer) gets the same grant, never a second session.
// Whatever is kept is encrypted under a key derived from the code itself: the
// store (Redis) alone holds no usable token.

export interface GrantRef {
  /** Names the code in the store: a hash, never the code. */
  id: string
  key: Buffer
}

export interface KeptGrant<T> {
  result: T
  sessionId: string
  /** Service clock (ms): the retry window closes here. */
  until: number
}

/** Where grants (and the marker of an exchange in flight) are kept; Redis with several instances. */
export interface GrantCache {
  get: (id: string) => Promise<string | undefined>
  /** Marks an exchange in flight; false when another holder already has (or has finished with) this code. */
  claim: (id: string, ttlMs: number) => Promise<boolean>
  put: (id: string, value: string, ttlMs: number) => Promise<void>
  /** Forgets a claim whose exchange failed (only the marker, never a kept grant). */
  release: (id: string) => Promise<void>
}

const PENDING = 'pending'
const NONCE_BYTES = 12
const TAG_BYTES = 16
const MAX_LOCAL_ENTRIES = 10_000

export function grantRef (appid: string, code: string): GrantRef {
  return {
    id: createHash('sha256').update(`weapp-auth/login-code\0${appid}\0${code}`).digest('base64url'),
    key: Buffer.from(hkdfSync('sha256', code, appid, 'weapp-auth/login-grant/v1', 32))
  }
}

function seal (ref: GrantRef, grant: KeptGrant<unknown>): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', ref.key, nonce)
  cipher.setAAD(Buffer.from(ref.id))
  return Buffer.concat([nonce, cipher.update(JSON.stringify(grant), 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
}

function open<T> (ref: GrantRef, sealed: string): KeptGrant<T> | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length <= NONCE_BYTES + TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', ref.key, bytes.subarray(0, NONCE_BYTES))
    decipher.setAAD(Buffer.from(ref.id))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8')) as KeptGrant<T>
  } catch {
    return undefined
  }
}

export interface LoginGrantOptions {
  now: () => number
  /** How long a completed grant is handed out again. */
  windowMs: number
  /** How long an exchange may stay in flight (WeChat's deadline, plus the database's). */
  inFlightMs: number
  pollMs?: number
}

export class LoginGrants {
  /**
   * `mirror`: with a shared cache (Redis), this instance also keeps its own
   * grants in memory, so a retry reaching it finds them even when Redis failed
   * between the claim and the grant (its stale claim would otherwise be waited out).
   */
  constructor (private readonly cache: GrantCache, private readonly options: LoginGrantOptions, private readonly mirror?: GrantCache) {}

  /** Becomes the one exchange of this code, or returns the grant another exchange made (undefined: it failed). */
  async claimOrWait<T> (ref: GrantRef): Promise<{ claimed: true } | { claimed: false, kept?: KeptGrant<T> }> {
    const mine = await this.keptHere<T>(ref)
    if (mine !== undefined) return { claimed: false, kept: mine }
    if (await this.cache.claim(ref.id, this.options.inFlightMs)) return { claimed: true }
    const deadline = this.options.now() + this.options.inFlightMs
    for (;;) {
      const value = await this.cache.get(ref.id)
      if (value !== PENDING) return { claimed: false, kept: value === undefined ? undefined : open<T>(ref, value) }
      const here = await this.keptHere<T>(ref)
      if (here !== undefined) return { claimed: false, kept: here }
      if (this.options.now() >= deadline) return { claimed: false }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 50))
    }
  }

  async keep<T> (ref: GrantRef, result: T, sessionId: string): Promise<void> {
    const grant: KeptGrant<T> = { result, sessionId, until: this.options.now() + this.options.windowMs }
    const sealed = seal(ref, grant)
    await this.mirror?.put(ref.id, sealed, this.options.windowMs)
    await this.cache.put(ref.id, sealed, this.options.windowMs)
  }

  private async keptHere<T> (ref: GrantRef): Promise<KeptGrant<T> | undefined> {
    const value = await this.mirror?.get(ref.id)
    return value === undefined || value === PENDING ? undefined : open<T>(ref, value)
  }

  async release (ref: GrantRef): Promise<void> {
    await this.cache.release(ref.id)
  }

  isOpen (grant: KeptGrant<unknown>): boolean {
    return this.options.now() < grant.until
  }
}

/** One process: entries expire by the service clock. */
export class MemoryGrantCache implements GrantCache {
  private readonly entries = new Map<string, { value: string, until: number }>()

  constructor (private readonly now: () => number = Date.now) {}

  async get (id: string): Promise<string | undefined> {
    const entry = this.entries.get(id)
    return entry !== undefined && entry.until > this.now() ? entry.value : undefined
  }

  async claim (id: string, ttlMs: number): Promise<boolean> {
    if (await this.get(id) !== undefined) return false
    await this.put(id, PENDING, ttlMs)
    return true
  }

  async put (id: string, value: string, ttlMs: number): Promise<void> {
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.until > now && this.entries.size < MAX_LOCAL_ENTRIES) break
      this.entries.delete(key)
    }
    this.entries.delete(id)
    this.entries.set(id, { value, until: now + ttlMs })
  }

  async release (id: string): Promise<void> {
    if (this.entries.get(id)?.value === PENDING) this.entries.delete(id)
  }
}

const DELETE_IF_PENDING = `if redis.call('get', KEYS[1]) == '${PENDING}' then return redis.call('del', KEYS[1]) else return 0 end`

/** Several instances: a retry that reaches another instance finds the grant here. */
export class RedisGrantCache implements GrantCache {
  constructor (private readonly redis: Redis, private readonly prefix: string) {}

  private key (id: string): string { return `${this.prefix}login:${id}` }

  async get (id: string): Promise<string | undefined> {
    return (await this.redis.get(this.key(id))) ?? undefined
  }

  async claim (id: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key(id), PENDING, 'PX', ttlMs, 'NX')) === 'OK'
  }

  async put (id: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.key(id), value, 'PX', ttlMs)
  }

  async release (id: string): Promise<void> {
    await this.redis.eval(DELETE_IF_PENDING, 1, this.key(id))
  }
}
