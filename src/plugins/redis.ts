import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'

declare module 'fastify' {
  interface FastifyInstance {
    /** Present when REDIS_URL is set: state shared by every instance. */
    redis?: Redis
  }
}

export default fp(async function redis (app: FastifyInstance, { url }: { url?: string }) {
  if (url === undefined) return
  // Fail fast instead of queueing commands while Redis is away: callers fall
  // back to per-instance state (see rate-limit-store.ts, token-store.ts).
  const client = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 1000, lazyConnect: true })
  let reported = false
  client.on('error', (error) => {
    if (!reported) app.log.warn({ err: error }, 'redis unreachable; reconnecting in the background')
    reported = true
  })
  client.on('ready', () => { reported = false })
  // Unreachable at start is not fatal: ioredis keeps reconnecting, callers degrade meanwhile.
  await client.connect().catch(() => {})
  app.decorate('redis', client)
  app.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
}, { name: 'redis' })
