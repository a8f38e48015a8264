import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { LoginBody, LoginResponse, RefreshBody, TokenClaims, TokenPair } from '../schemas/auth.js'
import Type from 'typebox'
import { errors } from '../schemas/common.js'

const auth: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/v1/auth/login', {
    config: { audit: 'login' },
    onRequest: app.rateLimits.login,
    schema: {
      tags: ['auth'],
      summary: "Exchange a login code of the app's platform for an access token and a refresh token",
      body: LoginBody,
      response: { 200: LoginResponse, ...errors(400, 401, 403, 429, 500, 502, 503, 504) }
    }
  }, async (request) => {
    // The app first, so that a failed exchange is recorded against it too.
    const { code, anonymousCode, appid } = request.body
    request.auditSubject = { appid: app.authService.selectApp(appid).appid }
    // The schema lets exactly one of code and anonymousCode through.
    const { result, subject } = await app.authService.login(code ?? anonymousCode!, appid, { anonymous: code === undefined })
    request.auditSubject = subject
    return result
  })

  app.post('/v1/auth/refresh', {
    config: { audit: 'refresh' },
    onRequest: app.rateLimits.refresh,
    schema: {
      tags: ['auth'],
      summary: 'Rotate a refresh token: a new pair, the old refresh token retired',
      body: RefreshBody,
      response: { 200: TokenPair, ...errors(400, 401, 403, 429, 503) }
    }
  }, async (request) => {
    const { result, subject } = await app.authService.refresh(request.body.refreshToken)
    request.auditSubject = subject
    return result
  })

  app.get('/v1/auth/session', {
    onRequest: app.authenticate,
    schema: {
      tags: ['auth'],
      summary: 'The claims of the presented access token, verified by signature alone (no database)',
      security: [{ bearer: [] }],
      response: { 200: TokenClaims, ...errors(401, 429) }
    }
  }, async (request) => {
    const { sub, sid, appid, exp } = request.user
    return { userId: sub, sessionId: sid, appid, expiresAt: new Date(exp * 1000).toISOString() }
  })

  app.post('/v1/auth/logout', {
    config: { audit: 'logout' },
    onRequest: app.authenticate,
    schema: {
      tags: ['auth'],
      summary: "End this access token's session: its refresh tokens stop working",
      security: [{ bearer: [] }],
      response: { 204: Type.Null(), ...errors(401, 429, 503) }
    }
  }, async (request, reply) => {
    await app.authService.logout(request.user.sid)
    return reply.code(204).send(null)
  })

  app.post('/v1/auth/logout-all', {
    config: { audit: 'logout_all' },
    onRequest: app.authenticate,
    schema: {
      tags: ['auth'],
      summary: "End every session of the token's user",
      security: [{ bearer: [] }],
      response: { 204: Type.Null(), ...errors(401, 429, 503) }
    }
  }, async (request, reply) => {
    await app.authService.logoutAll(request.user.sid)
    return reply.code(204).send(null)
  })
}

export default auth
