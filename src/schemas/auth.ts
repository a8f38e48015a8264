import Type from 'typebox'

export const LoginBody = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'the code from wx.login()' }),
  appid: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'required when the service serves several mini-programs' }))
}, { additionalProperties: false })

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 256 })
}, { additionalProperties: false })

export const TokenPair = Type.Object({
  accessToken: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  refreshToken: Type.String(),
  refreshExpiresIn: Type.Integer({ description: 'seconds until the refresh token expires' })
}, { additionalProperties: false })

export const LoginResponse = Type.Object({
  ...TokenPair.properties,
  user: Type.Object({ id: Type.String({ format: 'uuid' }), isNew: Type.Boolean() }, { additionalProperties: false })
}, { additionalProperties: false })

export const TokenClaims = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  sessionId: Type.String({ format: 'uuid' }),
  appid: Type.String(),
  expiresAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })

export const Profile = Type.Object({
  id: Type.String({ format: 'uuid' }),
  appid: Type.String({ description: 'the mini-program of this session' }),
  openid: Type.String({ description: "the user's openid in this session's mini-program" }),
  hasUnionid: Type.Boolean(),
  nickname: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  gender: Type.Union([Type.Integer(), Type.Null()]),
  language: Type.Union([Type.String(), Type.Null()]),
  city: Type.Union([Type.String(), Type.Null()]),
  province: Type.Union([Type.String(), Type.Null()]),
  country: Type.Union([Type.String(), Type.Null()]),
  phoneNumber: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' })
}, { additionalProperties: false })

export const Jwks = Type.Object({
  keys: Type.Array(Type.Object({
    kty: Type.String(),
    crv: Type.String(),
    x: Type.String(),
    y: Type.Optional(Type.String()),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.String()
  }))
})
