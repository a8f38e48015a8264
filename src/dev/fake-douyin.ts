import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomBytes } from 'node:crypto'
import { newCode, readJson, type IssuedCode } from './fake-server.js'
import { FakeSessionKeyPlatform, digest, type Redeemed } from './fake-session-key-platform.js'

/**
 * A stand-in for developer.toutiao.com: POST JSON /api/apps/v2/jscode2session
 * with {appid, secret, code, anonymous_code}, answering {err_no, err_tips,
 * log_id, data} (PLATFORMS.md §2). `tt.login()` gives a code to a logged-in
 * user and always an anonymousCode, whose anonymous_openid names the device.
 */

const ERR_TIPS: Record<number, string> = {
  [-1]: 'system error',
  40014: 'bad parameters',
  40015: 'bad appid',
  40017: 'bad secret',
  40018: 'bad code',
  40019: 'bad anonymous code'
}

const ERR_NOS: Record<Exclude<Redeemed, object>, number> = { unknown_app: 40015, bad_secret: 40017, bad_code: 40018, used_code: 40018 }

export class FakeDouyin extends FakeSessionKeyPlatform {
  protected readonly boundByDefault = true
  protected readonly watermarked = true
  private readonly anonymousCodes = new Map<string, IssuedCode>()

  /** tt.login: a logged-in user gets a code and an anonymousCode; a guest (`loggedIn: false`) only the anonymousCode. */
  ttLogin (appid: string, user: string, { loggedIn = true } = {}): { code?: string, anonymousCode: string } {
    const code = loggedIn ? this.login(appid, user).code : undefined
    const anonymousCode = newCode()
    this.anonymousCodes.set(anonymousCode, { appid, user, issuedAt: this.now(), used: false })
    return { ...(code !== undefined ? { code } : {}), anonymousCode }
  }

  /** The device's anonymous_openid in this app. */
  anonymousOpenid (appid: string, user: string): string {
    return this.formatId(`anonymous/${appid}/${user}`)
  }

  /** Douyin openids: an underscore, then 35 URL-safe characters. */
  protected formatId (seed: string): string {
    return `_000${Buffer.from(digest(`douyin/${seed}`), 'hex').toString('base64url').slice(0, 32)}`
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (url.pathname === '/api/apps/v2/jscode2session' && req.method === 'POST') return this.answer(res, 200, this.jscode2session(await readJson(req)))
    this.answer(res, 404, this.error(404))
  }

  protected error (errNo: number): object {
    return { err_no: errNo, err_tips: ERR_TIPS[errNo] ?? 'error', log_id: randomBytes(8).toString('hex'), data: null }
  }

  private jscode2session (body: Record<string, unknown>): object {
    const { appid, secret, code, anonymous_code: anonymousCode } = body
    if ((code === undefined || code === '') && (anonymousCode === undefined || anonymousCode === '')) return this.error(40014)
    const data = { session_key: '', openid: '', anonymous_openid: '', unionid: '' }
    if (code !== undefined && code !== '') {
      const redeemed = this.redeem(appid, secret, code)
      if (typeof redeemed === 'string') return this.error(ERR_NOS[redeemed])
      const { app, user } = redeemed
      Object.assign(data, { session_key: this.sessionKey(app.appid, user), openid: this.openid(app.appid, user), unionid: this.bound(app) ? this.unionid(user) : '' })
    }
    if (anonymousCode !== undefined && anonymousCode !== '') {
      const redeemed = this.redeem(appid, secret, anonymousCode, this.anonymousCodes)
      if (typeof redeemed === 'string') return this.error(redeemed === 'bad_code' || redeemed === 'used_code' ? 40019 : ERR_NOS[redeemed])
      data.anonymous_openid = this.anonymousOpenid(redeemed.app.appid, redeemed.user)
    }
    return { err_no: 0, err_tips: 'success', log_id: randomBytes(8).toString('hex'), data }
  }
}
