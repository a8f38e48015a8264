import { randomUUID } from 'node:crypto'
import Fastify, { LogController, type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import { loadJwtKeys } from './auth/jwt-keys.js'
import type { Config } from './config.js'
import type { Db } from './db/prisma.js'
import auth from './plugins/auth.js'
import docs from './plugins/docs.js'
import drain from './plugins/drain.js'
import errors from './plugins/errors.js'
import prisma from './plugins/prisma.js'
import rateLimit from './plugins/rate-limit.js'
import redis from './plugins/redis.js'
import requestLog from './plugins/request-log.js'
import security from './plugins/security.js'
import services from './plugins/services.js'
import authRoutes from './routes/auth.js'
import health from './routes/health.js'
import jwks from './routes/jwks.js'
import me from './routes/me.js'
import userData from './routes/user-data.js'
import { ErrorResponse } from './schemas/common.js'
import type { WechatClient } from './wechat/client.js'

export interface AppDeps {
  prisma: Db
  logger: Logger
  wechat?: WechatClient
}

export const BODY_LIMIT_BYTES = 64 * 1024
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

const hopsTrusted = (hops: number) => (_address: string, hop: number): boolean => hop < hops

/** The whole HTTP service, ready to `inject` or `listen`; it never listens itself. */
export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Fastify's two lines per request are replaced by one of ours (plugins/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    // A well-formed X-Request-Id from the proxy is kept, so one id follows a request across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // A hop count n trusts the n nearest proxies, as proxy-addr reads a number.
    trustProxy: typeof config.trustProxy === 'number' ? hopsTrusted(config.trustProxy) : config.trustProxy,
    bodyLimit: BODY_LIMIT_BYTES,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  const keys = loadJwtKeys({ privateKey: config.jwt.privateKey, secret: config.jwt.secret, publicKeys: config.jwt.publicKeys })
  const { rateLimits } = config
  app.addSchema(ErrorResponse)
  await app.register(errors)
  await app.register(requestLog)
  await app.register(drain)
  await app.register(security, { corsOrigins: config.corsOrigins })
  await app.register(docs)
  await app.register(prisma, { prisma: deps.prisma })
  await app.register(redis, { url: config.redisUrl })
  await app.register(rateLimit, { globalMax: rateLimits.globalMax, timeWindowMs: rateLimits.timeWindowMs, redisPrefix: config.redisPrefix })
  await app.register(auth, { keys, issuer: config.jwt.issuer, audience: config.jwt.audience, accessTtlSeconds: config.jwt.accessTtlSeconds })
  await app.register(services, { config, wechat: deps.wechat })

  await app.register(health)
  await app.register(authRoutes, { publicRateLimit: { max: rateLimits.authMax, timeWindow: rateLimits.timeWindowMs } })
  await app.register(me)
  await app.register(userData, { userRateLimit: { max: rateLimits.userMax, timeWindow: rateLimits.timeWindowMs } })
  if (keys.jwks.length > 0) await app.register(jwks, { keys: keys.jwks })
  return app as unknown as FastifyInstance
}
