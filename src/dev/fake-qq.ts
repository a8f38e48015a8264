import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { FakeSessionKeyPlatform, digest, type Redeemed } from './fake-session-key-platform.js'

/**
 * A stand-in for api.q.qq.com: GET /sns/jscode2session, everything in the
 * query, errcode/errmsg on failure (PLATFORMS.md §1). It also plays
 * `qq.login()` and the client's sealing of user data.
 */

const ERRMSG: Record<number, string> = {
  [-1]: 'system busy',
  40002: 'invalid grant_type',
  40013: 'invalid appid',
  40029: 'invalid code',
  40125: 'invalid appsecret',
  40163: 'code been used',
  45011: 'api minute-quota reach limit'
}

const ERRCODES: Record<Exclude<Redeemed, object>, number> = { unknown_app: 40013, bad_secret: 40125, bad_code: 40029, used_code: 40163 }

export class FakeQq extends FakeSessionKeyPlatform {
  protected readonly boundByDefault = true
  protected readonly watermarked = true

  /** QQ openids: 32 upper-case hex digits. */
  protected formatId (seed: string): string {
    return digest(`qq/${seed}`).slice(0, 32).toUpperCase()
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (url.pathname === '/sns/jscode2session' && req.method === 'GET') return this.answer(res, 200, this.jscode2session(url.searchParams))
    this.answer(res, 404, this.error(404))
  }

  protected error (errcode: number): { errcode: number, errmsg: string } {
    return { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'}, rid: ${randomBytes(6).toString('hex')}` }
  }

  private jscode2session (params: URLSearchParams): object {
    if (params.get('grant_type') !== 'authorization_code') return this.error(40002)
    const redeemed = this.redeem(params.get('appid'), params.get('secret'), params.get('js_code'))
    if (typeof redeemed === 'string') return this.error(ERRCODES[redeemed])
    const { app, user } = redeemed
    return {
      errcode: 0,
      errmsg: 'ok',
      openid: this.openid(app.appid, user),
      session_key: this.sessionKey(app.appid, user),
      ...(this.bound(app) ? { unionid: this.unionid(user) } : {})
    }
  }
}
