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
  // The one place a Redis outage is reported: once when it starts, once when it ends.
  let down = false
  client.on('error', (error) => {
    if (!down) app.log.warn({ err: error }, 'redis unreachable: rate limits and the access_token cache fall back to this instance until it answers again')
    down = true
  })
  client.on('ready', () => {
    if (down) app.log.info('redis is back: rate limits and the access_token cache are shared again')
    down = false
  })
  // Unreachable at start is not fatal: ioredis keeps reconnecting, callers degrade meanwhile.
  await client.connect().catch(() => {})
  app.decorate('redis', client)
  app.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
}, { name: 'redis' })
