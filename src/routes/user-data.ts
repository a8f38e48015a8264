import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../schemas/common.js'
import { DataResponse, DecryptBody, PhoneBody, VerifyBody } from '../schemas/user-data.js'
import { PhoneResponse } from '../schemas/users.js'

// Each call costs a decryption or a WeChat call: counted per user once authenticated, on top of the per-IP limit,
// before the body is read (counted in a preHandler, 90 calls with malformed bodies passed a limit of 3).
const userData: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/v1/auth/decrypt', {
    config: { audit: 'decrypt' },
    onRequest: [app.authenticate, app.rateLimits.user],
    schema: {
      tags: ['user data'],
      summary: "Decrypt encryptedData with the caller's session_key (AES-128-CBC), checking watermark.appid",
      security: [{ bearer: [] }],
      body: DecryptBody,
      response: { 200: DataResponse, ...errors(400, 401, 403, 429, 502, 503, 504) }
    }
  }, async (request) => ({ data: await app.userService.decrypt(request.user, request.body.encryptedData, request.body.iv) }))

  app.post('/v1/auth/verify', {
    config: { audit: 'verify' },
    onRequest: [app.authenticate, app.rateLimits.user],
    schema: {
      tags: ['user data'],
      summary: 'Check rawData against its signature, sha1(rawData + session_key)',
      security: [{ bearer: [] }],
      body: VerifyBody,
      response: { 200: DataResponse, ...errors(400, 401, 403, 429, 503) }
    }
  }, async (request) => ({ data: await app.userService.verify(request.user, request.body.rawData, request.body.signature) }))

  app.post('/v1/auth/phone', {
    config: { audit: 'phone' },
    onRequest: [app.authenticate, app.rateLimits.user],
    schema: {
      tags: ['user data'],
      summary: "The user's phone number: WeChat's button code, the sealed data of Douyin, Kuaishou and Baidu, or Alipay's signed payload",
      security: [{ bearer: [] }],
      body: PhoneBody,
      response: { 200: PhoneResponse, ...errors(400, 401, 403, 429, 500, 502, 503, 504) }
    }
  }, async (request) => app.userService.phone(request.user, request.body))
}

export default userData
