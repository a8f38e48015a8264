import createError from '@fastify/error'

// 401s a client can act on: each says what to do next.
export const AuthTokenMissing = createError('AUTH_TOKEN_MISSING', 'no access token: send Authorization: Bearer <accessToken>', 401)
export const AccessTokenExpired = createError('ACCESS_TOKEN_EXPIRED', 'access token expired: refresh it', 401)
export const AccessTokenInvalid = createError('ACCESS_TOKEN_INVALID', 'access token invalid: log in again', 401)

// What a login code's refusal at WeChat means to the client.
export const WechatCodeInvalid = createError('WECHAT_CODE_INVALID', 'code invalid or expired: call wx.login again', 401)
export const WechatCodeUsed = createError('WECHAT_CODE_USED', 'code already used: call wx.login again', 401)
export const WechatUserBlocked = createError('WECHAT_USER_BLOCKED', 'WeChat refused this user (risk control)', 403)
