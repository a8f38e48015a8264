import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Db } from '../db/prisma.js'

declare module 'fastify' {
  interface FastifyInstance {
    prisma: Db
  }
}

/** Exposes the Prisma client; the app owns it and disconnects it on close. */
export default fp(async function prisma (app: FastifyInstance, opts: { prisma: Db }) {
  app.decorate('prisma', opts.prisma)
  app.addHook('onClose', async () => { await opts.prisma.$disconnect() })
}, { name: 'prisma' })
