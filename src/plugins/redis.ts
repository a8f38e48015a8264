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
  // Fail fast instead of queueing commands while Redis is away: callers decide what a miss means.
  const client = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, lazyConnect: true })
  client.on('error', (error) => { app.log.warn({ err: error }, 'redis error') })
  await client.connect()
  app.decorate('redis', client)
  app.addHook('onClose', async () => { await client.quit().catch(() => client.disconnect()) })
}, { name: 'redis' })
