import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Profile } from '../schemas/auth.js'
import { errors } from '../schemas/common.js'
import { getProfile } from '../users/profile.js'

const me: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/me', {
    onRequest: app.authenticate,
    schema: {
      tags: ['users'],
      summary: "The signed-in user's profile",
      security: [{ bearer: [] }],
      response: { 200: Profile, ...errors(401, 429, 503) }
    }
  }, async (request) => getProfile(app.prisma, request.user.sid))
}

export default me
