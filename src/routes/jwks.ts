import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Jwk } from '../config/keys.js'
import { Jwks } from '../schemas/auth.js'
import { errors } from '../schemas/common.js'

const jwks: FastifyPluginAsyncTypebox<{ keys: Jwk[] }> = async (app, opts) => {
  const body = { keys: opts.keys }
  app.get('/.well-known/jwks.json', {
    schema: { tags: ['auth'], summary: 'Public keys that verify access tokens (asymmetric signing only)', response: { 200: Jwks, ...errors(429) } }
  }, async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(body))
}

export default jwks
