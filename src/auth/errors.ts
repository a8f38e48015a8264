import createError from '@fastify/error'

// 401s a client can act on: each says what to do next.
export const AuthTokenMissing = createError('AUTH_TOKEN_MISSING', 'no access token: send Authorization: Bearer <accessToken>', 401)
export const AccessTokenExpired = createError('ACCESS_TOKEN_EXPIRED', 'access token expired: refresh it', 401)
export const AccessTokenInvalid = createError('ACCESS_TOKEN_INVALID', 'access token invalid: log in again', 401)
export const SessionRevoked = createError('SESSION_REVOKED', 'session ended: log in again', 401)
export const SessionExpired = createError('SESSION_EXPIRED', 'session reached its maximum age: log in again', 401)
export const RefreshTokenInvalid = createError('REFRESH_TOKEN_INVALID', 'refresh token unknown: log in again', 401)
export const RefreshTokenExpired = createError('REFRESH_TOKEN_EXPIRED', 'refresh token expired: log in again', 401)
export const RefreshTokenReused = createError('REFRESH_TOKEN_REUSED', 'refresh token was already used: the session is ended for safety, log in again', 401)

export const AppRequired = createError('APP_REQUIRED', 'several mini-programs are configured: send appid', 400)
export const AppUnknown = createError('APP_UNKNOWN', 'appid %s is not configured on this service', 400)
