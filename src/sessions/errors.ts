import createError from '@fastify/error'

// 401s a client can act on: each says what to do next.
export const SessionRevoked = createError('SESSION_REVOKED', 'session ended: log in again', 401)
export const SessionExpired = createError('SESSION_EXPIRED', 'session reached its maximum age: log in again', 401)
export const RefreshTokenInvalid = createError('REFRESH_TOKEN_INVALID', 'refresh token unknown: log in again', 401)
export const RefreshTokenExpired = createError('REFRESH_TOKEN_EXPIRED', 'refresh token expired: log in again', 401)
export const RefreshTokenReused = createError('REFRESH_TOKEN_REUSED', 'refresh token was already used: the session is ended for safety, log in again', 401)

// 403: the person is banned (users.disabled_at set, in Studio or SQL); logging in again will not help.
export const UserDisabled = createError('USER_DISABLED', 'this account is disabled', 403)
