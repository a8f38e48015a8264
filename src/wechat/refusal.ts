import { WechatBusy, WechatConfigInvalid, WechatError, WechatRateLimited } from '../errors.js'
import { WechatApiError } from './errors.js'

/**
 * The errcodes every service reads the same way, after it has mapped the ones
 * that mean something to it (a login code's 40029, a phone code's...). The
 * errcode stays on the error for the log. Anything that is not a WeChat
 * refusal (a transport failure) passes through.
 */
export function wechatRefusal (error: unknown): unknown {
  if (!(error instanceof WechatApiError)) return error
  const context = { detail: { errcode: error.errcode } }
  switch (error.errcode) {
    case -1: return new WechatBusy(context)
    case 45011: return new WechatRateLimited(context)
    case 40013: case 40125: case 41002: case 41004: return new WechatConfigInvalid(context)
    default: return new WechatError(error.errcode, context)
  }
}
