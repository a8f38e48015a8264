import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Response headers for a JSON API (helmet's defaults, with a CSP that denies
 * everything except on /docs), and CORS only for configured origins: a
 * mini-program's wx.request is not a browser and needs none.
 */
export default fp(async function security (app: FastifyInstance, { corsOrigins }: { corsOrigins: string[] }) {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-origin' }
  })
  if (corsOrigins.length > 0) {
    await app.register(cors, { origin: corsOrigins, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 })
  }
}, { name: 'security' })
