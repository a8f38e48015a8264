import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import { loadJwtKeys } from './auth/jwt-keys.js'
import type { Config } from './config.js'
import type { Db } from './db/prisma.js'
import auth from './plugins/auth.js'
import errors from './plugins/errors.js'
import prisma from './plugins/prisma.js'
import rateLimit from './plugins/rate-limit.js'
import redis from './plugins/redis.js'
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

/** The whole HTTP service, ready to `inject` or `listen`; it never listens itself. */
export async function buildApp (config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: 64 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  const keys = loadJwtKeys({ privateKey: config.jwt.privateKey, secret: config.jwt.secret, publicKeys: config.jwt.publicKeys })
  app.addSchema(ErrorResponse)
  await app.register(errors)
  await app.register(prisma, { prisma: deps.prisma })
  await app.register(redis, { url: config.redisUrl })
  await app.register(rateLimit)
  await app.register(auth, { keys, issuer: config.jwt.issuer, audience: config.jwt.audience, accessTtlSeconds: config.jwt.accessTtlSeconds })
  await app.register(services, { config, wechat: deps.wechat })

  await app.register(health)
  await app.register(authRoutes, { publicRateLimit: { max: 30, timeWindow: 60_000 } })
  await app.register(me)
  await app.register(userData)
  if (keys.jwks.length > 0) await app.register(jwks, { keys: keys.jwks })
  return app as unknown as FastifyInstance
}
