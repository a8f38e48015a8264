import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { Db } from './db/prisma.js'
import errors from './plugins/errors.js'
import prisma from './plugins/prisma.js'
import health from './routes/health.js'

export interface AppDeps {
  prisma: Db
  logger: Logger
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

  await app.register(errors)
  await app.register(prisma, { prisma: deps.prisma })
  await app.register(health)
  return app as unknown as FastifyInstance
}
