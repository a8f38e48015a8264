import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { sharedCounterStore } from './rate-limit-store.js'

export interface RateLimitOptions {
  /** Every route, per client IP. */
  globalMax: number
  timeWindowMs: number
  redisPrefix: string
}

/**
 * A global limit per client IP; routes tighten it through `config.rateLimit`
 * (see routes/auth.ts, routes/user-data.ts). Health checks are exempt.
 */
export default fp(async function limits (app: FastifyInstance, opts: RateLimitOptions) {
  await app.register(rateLimit, {
    global: true,
    max: opts.globalMax,
    timeWindow: opts.timeWindowMs,
    store: sharedCounterStore(app.redis, opts.redisPrefix) as never,
    allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
    // Headers only on a 429: three more headers on every response cost a fifth of a light route's throughput.
    addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
    addHeaders: { 'x-ratelimit-limit': true, 'x-ratelimit-remaining': true, 'x-ratelimit-reset': true, 'retry-after': true },
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: 'Too Many Requests',
      message: `rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`
    })
  })
}, { name: 'rate-limit', dependencies: ['redis'] })
