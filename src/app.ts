import { randomUUID } from 'node:crypto'
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import type { Config, RuntimeConfig } from './config/index.js'
import type { Database } from './db/database.js'
import { ServiceError } from './errors.js'
import auth from './plugins/auth.js'
import docs from './plugins/docs.js'
import drain from './plugins/drain.js'
import errors from './plugins/errors.js'
import metrics from './plugins/metrics.js'
import audit from './plugins/audit.js'
import connections from './plugins/connections.js'
import database from './plugins/database.js'
import rateLimit from './plugins/rate-limit.js'
import redis from './plugins/redis.js'
import requestLog from './plugins/request-log.js'
import security, { securityHeaders } from './plugins/security.js'
import services from './plugins/services.js'
import authRoutes from './routes/auth.js'
import health from './routes/health.js'
import jwks from './routes/jwks.js'
import me from './routes/me.js'
import userData from './routes/user-data.js'
import { ErrorResponse } from './schemas/common.js'

export interface AppDeps {
  db: Database
  logger: Logger
  /** The service's clock (ms since the epoch) for its own windows; tests move it instead of waiting. */
  clock?: () => number
}

export const BODY_LIMIT_BYTES = 64 * 1024
const securityHeaderValues = securityHeaders()
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

const hopsTrusted = (hops: number) => (_address: string, hop: number): boolean => hop < hops

/** Whether the peer of a connection is one of our trusted proxies (TRUST_PROXY), the only one that may name a request. */
function trustedPeer (trustProxy: Config['trustProxy']): (address: string | undefined) => boolean {
  if (trustProxy === false) return () => false
  if (typeof trustProxy === 'number') return () => trustProxy > 0
  const list = new BlockList()
  for (const entry of trustProxy) {
    const [address, bits] = entry.split('/') as [string, string | undefined]
    const family = isIPv6(address) ? 'ipv6' : 'ipv4'
    if (bits === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(bits), family)
  }
  return (address) => {
    if (address === undefined) return false
    const plain = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address
    return list.check(plain, isIPv6(plain) ? 'ipv6' : 'ipv4')
  }
}

/** The whole HTTP service, ready to `inject` or `listen`; it never listens itself. */
export async function buildApp (config: RuntimeConfig, deps: AppDeps): Promise<FastifyInstance> {
  const trusted = trustedPeer(config.trustProxy)
  const { requestIdHeader } = config
  // A URL that does not decode is refused by Fastify before any hook runs: it is
  // still counted against the client's per-IP limit (a 429 once past it).
  const frameworkErrors = (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    const refuse = (status: number, code: string, message: string, headers?: Readonly<Record<string, string>>): void => {
      reply.code(status).headers({ ...securityHeaderValues, ...headers }).send({ statusCode: status, code, error: status === 429 ? 'Too Many Requests' : 'Bad Request', message })
    }
    app.rateLimits.ip(request, reply, (limited?: Error) => {
      if (limited === undefined) refuse(400, error.code, error.message)
      else if (limited instanceof ServiceError) refuse(429, limited.code, limited.message, limited.headers)
      else refuse(429, 'ERROR', limited.message)
    })
  }
  const app = Fastify({
    frameworkErrors,
    loggerInstance: deps.logger,
    // Fastify's two lines per request are replaced by one of ours (plugins/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // A well-formed id in the header the operator names (REQUEST_ID_HEADER), from a trusted proxy, is
    // kept, so one id follows a request across services. Never by default: a proxy passes a client's
    // X-Request-Id along unless told to set it, and a client must not name its own log lines.
    genReqId: (req) => {
      const given = requestIdHeader === undefined ? undefined : req.headers[requestIdHeader]
      return typeof given === 'string' && REQUEST_ID.test(given) && trusted(req.socket.remoteAddress) ? given : randomUUID()
    },
    // A hop count n trusts the n nearest proxies, as proxy-addr reads a number.
    trustProxy: typeof config.trustProxy === 'number' ? hopsTrusted(config.trustProxy) : config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    // Node holds unfinished headers to headersTimeout (60 s by default, not requestTimeout) and
    // looks every 30 s: a request trickled a byte at a time lived 80 s. 30 s, looked at every 5 s.
    http: { headersTimeout: 30_000, connectionsCheckingInterval: 5_000 },
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  const { keys } = config.jwt
  const { rateLimits } = config
  const clock = deps.clock ?? Date.now
  // wx.request sends Content-Type: application/json on every POST, a bodiless one too (logout):
  // an empty JSON body is no body, as a route schema then judges, not a 400 of its own.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined)
    else parseJson(request, body as string, done)
  })
  app.addSchema(ErrorResponse)
  await app.register(connections, {
    ...config.connections, outbound: config.databasePoolSize + config.wechat.maxConnections, exempt: trusted, clock
  })
  await app.register(errors)
  await app.register(requestLog)
  await app.register(drain)
  await app.register(security, { corsOrigins: config.corsOrigins })
  await app.register(docs)
  await app.register(database, { db: deps.db })
  await app.register(metrics, { port: config.metrics.port, host: config.metrics.host, appids: config.apps.map((a) => a.appid) })
  await app.register(audit, { clock })
  await app.register(redis, { url: config.redisUrl, clock })
  await app.register(rateLimit, { ...rateLimits, redisPrefix: config.redisPrefix })
  await app.register(auth, {
    keys, issuer: config.jwt.issuer, audience: config.jwt.audience, accessTtlSeconds: config.jwt.accessTtlSeconds
  })
  await app.register(services, { config, clock })

  await app.register(health)
  await app.register(authRoutes)
  await app.register(me)
  await app.register(userData)
  if (keys.jwks.length > 0) await app.register(jwks, { keys: keys.jwks })
  return app as unknown as FastifyInstance
}
