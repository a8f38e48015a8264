import Type, { type Static } from 'typebox'
import type { LoginResult, TokenPair as DomainTokenPair } from '../auth/tokens.js'
import type { Jwk as DomainJwk } from '../config/keys.js'
import { sameType } from './common.js'

const LoginCode = (description: string) => Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description })

/** `code`, or (Douyin) `anonymousCode`: exactly one. */
export const LoginBody = Type.Object({
  code: Type.Optional(LoginCode("the code of the platform's login call: wx.login, qq.login, tt.login, ks.login, swan.getLoginCode, or my.getAuthCode's authCode")),
  anonymousCode: Type.Optional(LoginCode("tt.login's anonymousCode, sent instead of code: refused (PLATFORM_CODE_ANONYMOUS), it names a device, not a user")),
  appid: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'the mini-program, and so its platform; required when the service serves several, unless exactly one is a WeChat app (then omitting it means that one)' }))
}, { additionalProperties: false, oneOf: [{ required: ['code'] }, { required: ['anonymousCode'] }] })

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 256 })
}, { additionalProperties: false })

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires: ACCESS_TOKEN_TTL, less near the end of the session (SESSION_MAX_AGE)' }),
  refreshToken: Type.String(),
  refreshExpiresIn: Type.Integer({ description: 'seconds until the refresh token expires' })
}, { additionalProperties: false })
sameType<Static<typeof TokenPair>, DomainTokenPair>()

export const LoginResponse = Type.Object({
  ...TokenPair.properties,
  user: Type.Object({ id: Type.String({ format: 'uuid' }), isNew: Type.Boolean() }, { additionalProperties: false })
}, { additionalProperties: false })
sameType<Static<typeof LoginResponse>, LoginResult>()

export const TokenClaims = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  sessionId: Type.String({ format: 'uuid' }),
  appid: Type.String(),
  expiresAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })

export const Jwk = Type.Object({
  kty: Type.String(),
  crv: Type.String(),
  x: Type.String(),
  y: Type.Optional(Type.String()),
  kid: Type.String(),
  alg: Type.Union([Type.Literal('EdDSA'), Type.Literal('ES256')]),
  use: Type.Literal('sig')
})
sameType<Static<typeof Jwk>, DomainJwk>()

export const Jwks = Type.Object({ keys: Type.Array(Jwk) })
