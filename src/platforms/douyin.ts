import { PlatformRefusal, type PlatformIdentity, type RefusalKind } from './adapter.js'
import type { Sealed } from './aes-cbc.js'
import { SessionKeyAdapter, absent, identityOf, type PlatformPhone, type SecretApp } from './session-key-adapter.js'
import { TransportUnavailable, jsonObject } from './transport.js'

// Douyin / Toutiao mini-programs (PLATFORMS.md §2): POST JSON to
// /api/apps/v2/jscode2session, answers {err_no, err_tips, data}. tt.login
// also gives an anonymousCode, whose anonymous_openid names a device, not a
// user: it never becomes an identity (D3).

export const DOUYIN_API = 'https://developer.toutiao.com'

// The v2 err_no table is not published; these are the numbers of the legacy
// code2session and the v2 token API (PLATFORMS.md §2.2).
const REFUSALS: ReadonlyMap<number, RefusalKind> = new Map([
  [-1, 'upstream_busy'],
  [40015, 'bad_credentials'],
  [40017, 'bad_credentials'],
  [40020, 'bad_credentials'],
  [40018, 'code_invalid'],
  [40019, 'code_invalid']
])

export class DouyinAdapter extends SessionKeyAdapter<'douyin'> {
  readonly platform = 'douyin'
  readonly subjectKind = 'openid'
  protected readonly watermark = 'required'

  /**
   * A login code for the user's identity. An anonymousCode (`anonymous`) is
   * refused without a call: it names a device, and accepting one would be a
   * separate, non-linkable kind of principal, not an openid.
   */
  async exchange (app: SecretApp<'douyin'>, code: string, { anonymous = false } = {}): Promise<PlatformIdentity> {
    this.check(app)
    if (anonymous) throw new PlatformRefusal(this.platform, 'code_anonymous', 'anonymous_code')
    const json = { appid: app.appid, secret: app.secret, code }
    return this.transport.call({ api: 'jscode2session', origin: this.origin(app, DOUYIN_API), method: 'POST', path: '/api/apps/v2/jscode2session', json }, (answer) => {
      const body = jsonObject(answer)
      if (typeof body.err_no !== 'number') throw new TransportUnavailable('answer without err_no')
      if (body.err_no !== 0) throw this.refusal(REFUSALS, body.err_no)
      const data = body.data as Record<string, unknown> | null | undefined
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new TransportUnavailable('answer without data')
      // Only an anonymous_openid: whatever was sent, a device is not a user.
      if (absent(data.openid) && !absent(data.anonymous_openid)) throw new PlatformRefusal(this.platform, 'code_anonymous', 'anonymous_openid')
      return identityOf(this.subjectKind, { subject: data.openid, sessionKey: data.session_key, unionid: data.unionid })
    })
  }

  /** The old getPhoneNumber button: the phone sealed with the session_key, watermarked with the appid. */
  phone (app: SecretApp<'douyin'>, sessionKey: string, sealed: Sealed): PlatformPhone {
    return this.phoneOf(this.decrypt(app, sessionKey, sealed))
  }
}
