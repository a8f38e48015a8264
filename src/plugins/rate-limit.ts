import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Limits are set per route (`config.rateLimit`); counters live in this process. */
export default fp(async function limits (app: FastifyInstance) {
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: 'Too Many Requests',
      message: `rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`
    })
  })
}, { name: 'rate-limit' })
