import createError from '@fastify/error'
import { WechatApiError } from './wechat/errors.js'

// Errors shared by every route. One error per failure a client can act on; `code` is the stable contract.
export const DatabaseUnavailable = createError('DATABASE_UNAVAILABLE', 'the database is unreachable; try again shortly', 503)
export const NotFound = createError('NOT_FOUND', 'route %s not found', 404)
export const AppRequired = createError('APP_REQUIRED', 'several mini-programs are configured: send appid', 400)
export const AppUnknown = createError('APP_UNKNOWN', 'appid %s is not configured on this service', 400)

export const WechatBusy = createError('WECHAT_BUSY', 'WeChat is busy: retry shortly', 503)
export const WechatRateLimited = createError('WECHAT_RATE_LIMITED', 'too many calls for this user at WeChat: retry in a minute', 429)
export const WechatConfigInvalid = createError('WECHAT_CONFIG_INVALID', 'the service is misconfigured for WeChat (AppID or AppSecret rejected)', 500)
export const WechatError = createError('WECHAT_ERROR', 'WeChat refused the request (errcode %s)', 502)

const RETRY_AFTER_RATE_LIMITED_SECONDS = 60

/**
 * The errcodes every service reads the same way, after it has mapped the ones
 * that mean something to it (a login code's 40029, a phone code's...). The
 * errcode stays on the error for the log. Anything that is not a WeChat
 * refusal (a transport failure) passes through.
 */
export function wechatRefusal (error: unknown): unknown {
  if (!(error instanceof WechatApiError)) return error
  let mapped: Error & { errcode?: number, headers?: Record<string, string> }
  switch (error.errcode) {
    case -1: mapped = new WechatBusy(); break
    case 45011:
      mapped = new WechatRateLimited()
      mapped.headers = { 'retry-after': String(RETRY_AFTER_RATE_LIMITED_SECONDS) }
      break
    case 40013: case 40125: case 41002: case 41004: mapped = new WechatConfigInvalid(); break
    default: mapped = new WechatError(error.errcode)
  }
  mapped.errcode = error.errcode
  return mapped
}
