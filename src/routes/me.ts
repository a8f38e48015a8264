import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Profile } from '../schemas/users.js'
import { errors } from '../schemas/common.js'

const me: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/me', {
    onRequest: app.authenticate,
    schema: {
      tags: ['users'],
      summary: "The signed-in user's profile",
      security: [{ bearer: [] }],
      response: { 200: Profile, ...errors(401, 403, 429, 503) }
    }
  }, async (request) => app.userService.profile(request.user))
}

export default me
