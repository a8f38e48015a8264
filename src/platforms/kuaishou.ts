import type { PlatformIdentity, RefusalKind } from './adapter.js'
import type { Sealed } from './aes-cbc.js'
import { SessionKeyAdapter, identityOf, type PlatformPhone, type SecretApp } from './session-key-adapter.js'
import { TransportUnavailable, jsonObject } from './transport.js'

// Kuaishou mini-programs (PLATFORMS.md §5): POST form to
// /oauth2/mp/code2session (app_id, app_secret, js_code), answers
// {result: 1, open_id, session_key} or result != 1 with error_msg. open_id is
// unique per developer, not per app: subjectKind 'open_id'.

export const KUAISHOU_API = 'https://open.kuaishou.com'

// Only the access-token page's numbers are published: 100200100 bad
// parameters (the one parameter a client supplies is js_code) and 100200101
// bad app_id/app_secret (PLATFORMS.md §5.2).
const REFUSALS: ReadonlyMap<number, RefusalKind> = new Map([
  [100200100, 'code_invalid'],
  [100200101, 'bad_credentials']
])

export class KuaishouAdapter extends SessionKeyAdapter<'kuaishou'> {
  readonly platform = 'kuaishou'
  readonly subjectKind = 'open_id'
  // No watermark is documented: checked when the data has one.
  protected readonly watermark = 'if_present'

  async exchange (app: SecretApp<'kuaishou'>, code: string): Promise<PlatformIdentity> {
    this.check(app)
    const form = { app_id: app.appid, app_secret: app.secret, js_code: code }
    return this.transport.call({ api: 'code2session', origin: this.origin(app, KUAISHOU_API), method: 'POST', path: '/oauth2/mp/code2session', form }, (answer) => {
      const body = jsonObject(answer)
      if (typeof body.result !== 'number') throw new TransportUnavailable('answer without result')
      if (body.result !== 1) throw this.refusal(REFUSALS, body.result)
      return identityOf(this.subjectKind, { subject: body.open_id, sessionKey: body.session_key, unionid: body.union_id })
    })
  }

  /** The getPhoneNumber button: the phone sealed with the session_key. */
  phone (app: SecretApp<'kuaishou'>, sessionKey: string, sealed: Sealed): PlatformPhone {
    return this.phoneOf(this.decrypt(app, sessionKey, sealed))
  }
}
