// What the WeChat adapter throws when WeChat answers and says no: its errcode,
// for the calling service to read (src/wechat/refusal.ts, auth/, users/). A
// failure to get an answer is one of the catalogue's transport errors
// (WechatUnavailable, WechatTimeout, WechatOverloaded in src/errors.ts).

/** WeChat answered with a non-zero errcode. */
export class WechatApiError extends Error {
  override name = 'WechatApiError'
  constructor (readonly errcode: number, readonly errmsg?: string) {
    super(`WeChat errcode ${errcode}`)
  }
}
