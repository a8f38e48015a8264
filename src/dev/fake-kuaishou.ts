import type { IncomingMessage, ServerResponse } from 'node:http'
import { readForm } from './fake-server.js'
import { FakeSessionKeyPlatform, digest, type Redeemed } from './fake-session-key-platform.js'

/**
 * A stand-in for open.kuaishou.com: POST form /oauth2/mp/code2session with
 * app_id, app_secret, js_code, answering {result: 1, open_id, session_key}
 * or {result: <code>, error_msg} (PLATFORMS.md §5). open_id is per developer
 * (an app's `developer`). Sealed data has no watermark unless asked for.
 * Kuaishou publishes no code2session error numbers: a bad or used code is
 * answered with 100200100 (bad parameters), a bad app with 100200101.
 */

const ERROR_MSG: Record<number, string> = {
  100200100: '参数有误',
  100200101: '验证出错'
}

const RESULTS: Record<Exclude<Redeemed, object>, number> = {
  unknown_app: 100200101, bad_secret: 100200101, bad_code: 100200100, used_code: 100200100
}

export class FakeKuaishou extends FakeSessionKeyPlatform {
  protected readonly boundByDefault = false
  protected readonly watermarked = false

  /** Kuaishou open_ids: 32 lower-case hex digits. */
  protected formatId (seed: string): string {
    return digest(`kuaishou/${seed}`).slice(0, 32)
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (url.pathname === '/oauth2/mp/code2session' && req.method === 'POST') return this.answer(res, 200, this.code2session(await readForm(req)))
    this.answer(res, 404, this.error(404))
  }

  protected error (result: number): object {
    return { result, error_msg: ERROR_MSG[result] ?? 'error' }
  }

  private code2session (form: URLSearchParams): object {
    const redeemed = this.redeem(form.get('app_id'), form.get('app_secret'), form.get('js_code'))
    if (typeof redeemed === 'string') return this.error(RESULTS[redeemed])
    const { app, user } = redeemed
    return {
      result: 1,
      open_id: this.openid(app.appid, user),
      session_key: this.sessionKey(app.appid, user),
      ...(this.bound(app) ? { union_id: this.unionid(user) } : {})
    }
  }
}
