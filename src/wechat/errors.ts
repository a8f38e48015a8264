import createError from '@fastify/error'

// WeChat's errcodes mapped to what our client can act on. One table, one place.
export const WechatCodeInvalid = createError('WECHAT_CODE_INVALID', 'code invalid or expired: call wx.login again', 401)
export const WechatCodeUsed = createError('WECHAT_CODE_USED', 'code already used: call wx.login again', 401)
export const WechatRateLimited = createError('WECHAT_RATE_LIMITED', 'too many logins for this user at WeChat: retry in a minute', 429)
export const WechatUserBlocked = createError('WECHAT_USER_BLOCKED', 'WeChat refused this user (risk control)', 403)
export const WechatBusy = createError('WECHAT_BUSY', 'WeChat is busy: retry shortly', 503)
export const WechatConfigInvalid = createError('WECHAT_CONFIG_INVALID', 'the service is misconfigured for WeChat (AppID or AppSecret rejected)', 500)
export const WechatUnavailable = createError('WECHAT_UNAVAILABLE', 'WeChat could not be reached or answered unexpectedly: retry shortly', 502)
export const WechatTimeout = createError('WECHAT_TIMEOUT', 'WeChat did not answer in time: retry shortly', 504)
export const WechatError = createError('WECHAT_ERROR', 'WeChat refused the request (errcode %s)', 502)
export const WechatOverloaded = createError('WECHAT_OVERLOADED', 'too many requests are waiting on WeChat: retry in a few seconds', 503)

export const RETRY_AFTER_OVERLOADED_SECONDS = 5

export function wechatOverloaded (): Error {
  const error: Error & { headers?: Record<string, string> } = new WechatOverloaded()
  error.headers = { 'retry-after': String(RETRY_AFTER_OVERLOADED_SECONDS) }
  return error
}

export const RETRY_AFTER_RATE_LIMITED_SECONDS = 60

/** The error for a WeChat errcode; `errcode` is kept for the logs. */
export function errorForErrcode (errcode: number): Error & { errcode?: number } {
  let error: Error & { errcode?: number, headers?: Record<string, string> }
  switch (errcode) {
    case 40029: error = new WechatCodeInvalid(); break
    case 40163: error = new WechatCodeUsed(); break
    case 45011:
      error = new WechatRateLimited()
      error.headers = { 'retry-after': String(RETRY_AFTER_RATE_LIMITED_SECONDS) }
      break
    case 40226: error = new WechatUserBlocked(); break
    case -1: error = new WechatBusy(); break
    case 40013: case 40125: case 41002: case 41004: error = new WechatConfigInvalid(); break
    default: error = new WechatError(errcode)
  }
  error.errcode = errcode
  return error
}
