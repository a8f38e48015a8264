import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Database } from '../db/database.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

/** Exposes the database to the services; the app owns it and closes it on close. */
export default fp(async function database (app: FastifyInstance, opts: { db: Database }) {
  app.decorate('db', opts.db)
  app.addHook('onClose', async () => { await opts.db.close() })
}, { name: 'database' })
