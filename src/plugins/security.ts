import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by @fastify/cors on a preflight it answers (it declares no type for it). */
    corsPreflightEnabled?: boolean
  }
}

/**
 * The headers OWASP's REST Security Cheat Sheet asks of a JSON API, from
 * helmet, computed once: none of them depends on the request. helmet's other
 * defaults govern documents a browser renders (opener policy, origin agent
 * cluster, DNS prefetch, IE downloads, Flash policies, the XSS auditor) and a
 * JSON API serves none; each header is bytes on every response. Running helmet
 * per request cost a fifth of a Bearer-only route's throughput, and
 * @fastify/helmet even rebuilds its middleware per request.
 */
export function securityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const collector = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = String(value) },
    removeHeader: (name: string) => { delete headers[name.toLowerCase()] }
  }
  helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    frameguard: { action: 'deny' },
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    referrerPolicy: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false
  })({} as IncomingMessage, collector as unknown as ServerResponse, () => {})
  // Answers carry tokens: no cache may keep them (routes that may be cached say so, e.g. the JWKS).
  headers['cache-control'] = 'no-store'
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
    // @fastify/cors answers a preflight in its onRequest hook, which runs before the per-IP limit's
    // (registered later): a flood of preflights went uncounted. Continued, the preflight is answered
    // by its OPTIONS route, after every onRequest hook, and a malformed one is no 400 of the hook's
    // own; other answers, a 429 included, still carry the CORS headers the browser needs to read them.
    await app.register(cors, { origin: corsOrigins, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'], maxAge: 600, preflightContinue: true, strictPreflight: false })
    app.addHook('preHandler', (request, reply, done) => {
      // As @fastify/cors answers one itself (Safari waits for a body on a 204 without Content-Length: 0).
      if (request.corsPreflightEnabled) reply.code(204).header('content-length', '0')
      done()
    })
  }
}, { name: 'security' })
