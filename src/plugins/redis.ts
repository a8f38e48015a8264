import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** Present when REDIS_URL is set: state shared by every instance. */
    redis?: Redis
    /** Whether to ask Redis at all right now; callers fall back to per-instance state when not. */
    redisHealth: RedisHealth
  }
}

const COOLDOWN_MS = 5_000
export const REDIS_COMMAND_TIMEOUT_MS = 250

/**
 * A circuit breaker in front of Redis. A refused connection fails at once
 * (ioredis keeps no offline queue), but a hung one answers nothing until the
 * command times out: after one such failure every caller skips Redis for a
 * cooldown, then one request probes it again. The one place an outage is
 * reported: once when it starts, once when it ends.
 */
export class RedisHealth {
  private downSince?: number
  private retryAt = 0
  private probing = false

  constructor (
    private readonly log: FastifyBaseLogger, private readonly now: () => number = Date.now, private readonly cooldownMs = COOLDOWN_MS
  ) {}

  usable (): boolean {
    if (this.downSince === undefined) return true
    if (this.probing || this.now() < this.retryAt) return false
    this.probing = true
    return true
  }

  failed (error: unknown): void {
    this.probing = false
    this.retryAt = this.now() + this.cooldownMs
    if (this.downSince !== undefined) return
    this.downSince = this.now()
    // Name, message and code only: ioredis puts the failed command's arguments on its errors, and those may be a cached value.
    const { name, message, code } = error as { name?: string, message?: string, code?: string }
    this.log.warn({ redisError: { name, message, code } }, 'redis unreachable or not answering: rate limits, the WeChat token cache and login retries fall back to this instance until it answers again')
  }

  succeeded (): void {
    this.probing = false
    if (this.downSince === undefined) return
    this.log.info({ downMs: this.now() - this.downSince }, 'redis is back: rate limits, the WeChat token cache and login retries are shared again')
    this.downSince = undefined
  }
}

/** Calls the shared (Redis) implementation while Redis answers, the local one while it does not. */
export function withFallback<T extends object> (shared: T, local: T, health: RedisHealth): T {
  const wrapped: Record<string, unknown> = {}
  const methods = (target: object): string[] => {
    const names = new Set<string>()
    for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const name of Object.getOwnPropertyNames(o)) if (name !== 'constructor' && typeof (target as Record<string, unknown>)[name] === 'function') names.add(name)
    }
    return [...names]
  }
  // The methods both sides have: the store interface, not either side's private helpers.
  for (const name of methods(shared).filter((n) => methods(local).includes(n))) {
    const viaRedis = (shared as Record<string, (...args: unknown[]) => Promise<unknown>>)[name]!.bind(shared)
    const viaLocal = (local as Record<string, (...args: unknown[]) => Promise<unknown>>)[name]!.bind(local)
    wrapped[name] = async (...args: unknown[]) => {
      if (!health.usable()) return viaLocal(...args)
      try {
        const result = await viaRedis(...args)
        health.succeeded()
        return result
      } catch (error) {
        health.failed(error)
        return viaLocal(...args)
      }
    }
  }
  return wrapped as T
}

export default fp(async function redis (app: FastifyInstance, { url, clock = Date.now }: { url?: string, clock?: () => number }) {
  // The service's clock times the breaker's cool-down (tests hold it still).
  const health = new RedisHealth(app.log, clock)
  app.decorate('redisHealth', health)
  if (url === undefined) return
  // Fail fast instead of queueing commands while Redis is away. Redis answers in
  // well under a millisecond on a healthy network: a command still unanswered
  // after 250 ms trips the breaker, slow and hung alike.
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    lazyConnect: true
  })
  client.on('error', (error) => { health.failed(error) })
  client.on('ready', () => { health.succeeded() })
  // Unreachable at start is not fatal: ioredis keeps reconnecting, callers degrade meanwhile.
  await client.connect().catch(() => {})
  app.decorate('redis', client)
  app.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
}, { name: 'redis' })
