import type { PlatformIdentity, RefusalKind } from './adapter.js'
import { SessionKeyAdapter, identityOf, type SecretApp } from './session-key-adapter.js'
import { TransportUnavailable, jsonObject } from './transport.js'

// QQ mini-programs: WeChat's protocol on api.q.qq.com (PLATFORMS.md §1).
// GET /sns/jscode2session with everything in the query, errcode/errmsg.

export const QQ_API = 'https://api.q.qq.com'

// -1, 40029 and 45011 are documented for code2Session; the rest are the
// WeChat numbers QQ's other APIs share (40001/40013 for the token API).
const REFUSALS: ReadonlyMap<number, RefusalKind> = new Map([
  [-1, 'upstream_busy'],
  [40029, 'code_invalid'],
  [40163, 'code_invalid'],
  [45011, 'rate_limited'],
  [40001, 'bad_credentials'],
  [40013, 'bad_credentials'],
  [40125, 'bad_credentials'],
  [40226, 'user_blocked']
])

export class QqAdapter extends SessionKeyAdapter<'qq'> {
  readonly platform = 'qq'
  readonly subjectKind = 'openid'
  // Expected as on WeChat; the QQ page's watermark section was not seen (PLATFORMS.md §1.3).
  protected readonly watermark = 'required'
  /** No getPhoneNumber for QQ mini-programs was found (PLATFORMS.md §1.4): this adapter has no phone capability. */
  readonly phone = undefined

  async exchange (app: SecretApp<'qq'>, code: string): Promise<PlatformIdentity> {
    this.check(app)
    const query = { appid: app.appid, secret: app.secret, js_code: code, grant_type: 'authorization_code' }
    return this.transport.call({ api: 'jscode2session', origin: this.origin(app, QQ_API), method: 'GET', path: '/sns/jscode2session', query }, (answer) => {
      const body = jsonObject(answer)
      // Like WeChat, a success may carry no errcode: the openid is what marks it.
      const errcode = body.errcode ?? 0
      if (typeof errcode !== 'number') throw new TransportUnavailable('errcode is not a number')
      if (errcode !== 0) throw this.refusal(REFUSALS, errcode)
      return identityOf(this.subjectKind, { subject: body.openid, sessionKey: body.session_key, unionid: body.unionid })
    })
  }
}
