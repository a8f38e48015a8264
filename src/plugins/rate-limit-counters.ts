import type { Redis } from 'ioredis'
import type { RedisHealth } from './redis.js'

// A fixed-window counter: INCR, and start the window on the first hit.
const INCR = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}`

type Callback = (error: Error | null, result: { current: number, ttl: number }) => void

interface LimiterOptions { name?: string }

const MAX_LOCAL_KEYS = 50_000

/** Per-process counters: the only store without Redis, and the fallback while Redis is unreachable. */
class LocalCounters {
  private readonly windows = new Map<string, { count: number, resetAt: number }>()

  incr (key: string, timeWindow: number): { current: number, ttl: number } {
    const now = Date.now()
    let entry = this.windows.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      if (this.windows.size >= MAX_LOCAL_KEYS) this.windows.delete(this.windows.keys().next().value!)
      entry = { count: 0, resetAt: now + timeWindow }
      this.windows.delete(key)
      this.windows.set(key, entry)
    }
    entry.count++
    return { current: entry.count, ttl: entry.resetAt - now }
  }
}

/**
 * A @fastify/rate-limit store: counters in Redis so limits hold across
 * instances; while Redis is unreachable or hung (RedisHealth) each instance
 * counts on its own (limits then hold per instance) until Redis answers again.
 * Each limiter (`name`: ip, auth, user) counts in a namespace of its own.
 */
export function rateLimitCounters (redis: Redis | undefined, health: RedisHealth, prefix: string) {
  if (redis !== undefined && typeof (redis as Redis & { weappRateLimit?: unknown }).weappRateLimit !== 'function') {
    redis.defineCommand('weappRateLimit', { numberOfKeys: 1, lua: INCR })
  }
  const local = new LocalCounters()

  return class SharedCounters {
    private readonly namespace: string

    constructor (options: LimiterOptions = {}) {
      this.namespace = `${prefix}ratelimit:${options.name ?? 'default'}:`
    }

    incr (key: string, callback: Callback, timeWindow: number): void {
      const name = this.namespace + key
      if (redis === undefined || !health.usable()) { callback(null, local.incr(name, timeWindow)); return }
      const command = (redis as Redis & { weappRateLimit: (key: string, window: number) => Promise<[number, number]> }).weappRateLimit
      command.call(redis, name, timeWindow).then(
        ([current, ttl]) => { health.succeeded(); callback(null, { current, ttl }) },
        (error: unknown) => { health.failed(error); callback(null, local.incr(name, timeWindow)) })
    }

    child (options: LimiterOptions): SharedCounters {
      return new SharedCounters(options)
    }
  }
}
