import createError from '@fastify/error'

// What the WeChat adapter throws: WeChat's own refusal (its errcode, for the
// calling service to read) or a transport failure. Which errcode means what to
// a client is each service's business (auth/, users/, src/errors.ts).

/** WeChat answered with a non-zero errcode. */
export class WechatApiError extends Error {
  override name = 'WechatApiError'
  constructor (readonly errcode: number, readonly errmsg?: string) {
    super(`WeChat errcode ${errcode}`)
  }
}

export const WechatUnavailable = createError('WECHAT_UNAVAILABLE', 'WeChat could not be reached or answered unexpectedly: retry shortly', 502)
export const WechatTimeout = createError('WECHAT_TIMEOUT', 'WeChat did not answer in time: retry shortly', 504)
export const WechatOverloaded = createError('WECHAT_OVERLOADED', 'too many requests are waiting on WeChat: retry in a few seconds', 503)

export const RETRY_AFTER_OVERLOADED_SECONDS = 5

export function wechatOverloaded (): Error {
  const error: Error & { headers?: Record<string, string> } = new WechatOverloaded()
  error.headers = { 'retry-after': String(RETRY_AFTER_OVERLOADED_SECONDS) }
  return error
}
