import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'

/**
 * helmet's headers for a JSON API (its defaults, with a CSP that denies
 * everything), computed once: none of them depends on the request. Running
 * helmet's middleware per request cost a fifth of a Bearer-only route's
 * throughput, and @fastify/helmet even rebuilds the middleware per request.
 */
export function securityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const collector = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet({
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-origin' }
  })({} as IncomingMessage, collector as unknown as ServerResponse, () => {})
  return headers
}

/** Security headers on every response; CORS only for configured origins (a mini-program's wx.request needs none). */
export default fp(async function security (app: FastifyInstance, { corsOrigins }: { corsOrigins: string[] }) {
  const headers = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
  if (corsOrigins.length > 0) {
    await app.register(cors, { origin: corsOrigins, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600 })
  }
}, { name: 'security' })
