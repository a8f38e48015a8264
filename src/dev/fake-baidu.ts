import { createHash, randomBytes } from 'node:crypto'
import type { Sealed } from '../platforms/aes-cbc.js'
import { sealBaiduData } from '../platforms/baidu-crypto.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FakeServer, clientOf, newCode, readForm, type IssuedCode } from './fake-server.js'
import { DEMO_PHONE } from './fake-wechat-data.js'

/**
 * A stand-in for Baidu's spapi.baidu.com and openapi.baidu.com, speaking their
 * protocol (POST forms, OAuth2 `error` refusals, `errno` envelopes), and the
 * smart program's side: swan.getLoginCode and the sealed data it hands over.
 * The shared faults' `errcode` answers in the OpenAPI `errno` envelope;
 * `refuse()` makes Baidu answer an OAuth2 `error` instead.
 */

export interface FakeBaiduApp {
  appKey: string
  secret: string
}

interface Refusal { error: string, times?: number, path?: string }
interface Reply { status: number, body: object }

const reply = (body: object, status = 200): Reply => ({ status, body })

const CODE_TTL_MS = 10 * 60 * 1000
const ACCESS_TOKEN_TTL_SECONDS = 2_592_000

const DESCRIPTIONS: Record<string, string> = {
  invalid_grant: 'Invalid authorization code',
  invalid_client: 'unknown client id',
  invalid_request: 'invalid request'
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url')

export class FakeBaidu extends FakeServer {
  private readonly apps = new Map<string, FakeBaiduApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly sessionKeys = new Map<string, string>()
  private readonly accessTokens = new Map<string, string>()
  private refusal?: Refusal

  constructor (apps: FakeBaiduApp[], private readonly now: () => number = Date.now) {
    super()
    for (const app of apps) this.apps.set(app.appKey, { ...app })
  }

  /** swan.getLoginCode(): a single-use code, and a fresh 24-byte session key for the user. */
  login (appKey: string, user: string): { code: string, openid: string } {
    this.sessionKeys.set(`${appKey}/${user}`, randomBytes(24).toString('base64'))
    const code = newCode()
    this.codes.set(code, { appid: appKey, user, issuedAt: this.now(), used: false })
    return { code, openid: this.openid(appKey, user) }
  }

  openid (appKey: string, user: string): string {
    return `b${digest(`${appKey}/${user}`).slice(0, 31)}`
  }

  unionid (user: string): string {
    return `bu${digest(`union/${user}`).slice(0, 30)}`
  }

  sessionKey (appKey: string, user: string): string {
    const key = this.sessionKeys.get(`${appKey}/${user}`)
    if (key === undefined) throw new Error(`${user} never logged in to ${appKey}`)
    return key
  }

  /** Data the smart program hands over (user info, phone): sealed with the session key, trailed by `forAppKey`. */
  seal (appKey: string, user: string, payload: object, { forAppKey = appKey } = {}): Sealed {
    return sealBaiduData(this.sessionKey(appKey, user), forAppKey, payload)
  }

  /** The getPhoneNumber button's payload, as Baidu's sample reads it. */
  phoneData (appKey: string, user: string, mobile: string): Sealed {
    return this.seal(appKey, user, { mobile })
  }

  /** As if the token had been revoked: getunionid answers errno 110 until a new one is fetched. */
  invalidateAccessToken (appKey: string): void {
    this.accessTokens.delete(appKey)
  }

  /** Answer OAuth2 `error` (invalid_grant, server_error...) to `times` requests (all when absent), on `path` only if given. */
  refuse (error: string | undefined, { times, path }: { times?: number, path?: string } = {}): void {
    this.refusal = error === undefined
      ? undefined
      : { error, ...(times === undefined ? {} : { times }), ...(path === undefined ? {} : { path }) }
  }

  /** swan's side over HTTP: the login code, checkSession, user info and the phone button sealed for the app (appid: the appKey). */
  protected override clientSide (path: string, body: Record<string, unknown>): (() => unknown) | undefined {
    const { appid: appKey, user } = clientOf(body)
    const calls: Record<string, () => unknown> = {
      '/__fake/login': () => ({ code: this.login(this.known(appKey), user).code }),
      '/__fake/checksession': () => ({ valid: this.sessionKeys.has(`${appKey}/${user}`) }),
      '/__fake/user-info': () => this.seal(appKey, user, { openid: this.openid(appKey, user), ...(body.profile ?? { nickName: user }) }),
      '/__fake/phone': () => this.phoneData(appKey, user, String(body.mobile ?? DEMO_PHONE.purePhoneNumber))
    }
    return calls[path]
  }

  private known (appKey: string): string {
    if (!this.apps.has(appKey)) throw new Error(`unknown app ${appKey}`)
    return appKey
  }

  protected error (errno: number): object {
    return { errno, errmsg: errno === 110 ? 'Access token invalid or no longer valid' : 'error', request_id: randomBytes(8).toString('hex') }
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const { status, body } = this.reply(req.method ?? 'GET', url, await readForm(req))
    this.answer(res, status, body)
  }

  private reply (method: string, url: URL, form: URLSearchParams): Reply {
    const refusal = this.refusal
    if (refusal !== undefined && (refusal.path === undefined || refusal.path === url.pathname)) {
      if (refusal.times !== undefined && --refusal.times <= 0) this.refusal = undefined
      return this.oauthError(refusal.error)
    }
    if (method === 'POST' && url.pathname === '/oauth/jscode2sessionkey') return this.jscode2sessionkey(form)
    if (method === 'POST' && url.pathname === '/oauth/2.0/token') return this.token(form)
    if (method === 'POST' && url.pathname === '/rest/2.0/smartapp/getunionid') return this.getunionid(url.searchParams, form)
    return reply({ error: 'invalid_request', error_description: 'not found' }, 404)
  }

  private oauthError (error: string): Reply {
    return reply({ error, error_description: DESCRIPTIONS[error] ?? error }, error === 'invalid_client' ? 401 : 400)
  }

  private jscode2sessionkey (form: URLSearchParams): Reply {
    const app = this.apps.get(form.get('client_id') ?? '')
    if (app === undefined || form.get('sk') !== app.secret) return this.oauthError('invalid_client')
    const issued = this.codes.get(form.get('code') ?? '')
    if (issued === undefined || issued.used || issued.appid !== app.appKey || this.now() - issued.issuedAt > CODE_TTL_MS) return this.oauthError('invalid_grant')
    issued.used = true
    return reply({ openid: this.openid(app.appKey, issued.user), session_key: this.sessionKey(app.appKey, issued.user) })
  }

  private token (form: URLSearchParams): Reply {
    const app = this.apps.get(form.get('client_id') ?? '')
    if (app === undefined || form.get('client_secret') !== app.secret) return this.oauthError('invalid_client')
    if (form.get('grant_type') !== 'client_credentials') return this.oauthError('unsupported_grant_type')
    const token = `24.${randomBytes(24).toString('hex')}`
    this.accessTokens.set(app.appKey, token)
    return reply({ access_token: token, expires_in: ACCESS_TOKEN_TTL_SECONDS, scope: form.get('scope') ?? '', session_key: '', session_secret: '' })
  }

  private getunionid (query: URLSearchParams, form: URLSearchParams): Reply {
    const requestId = randomBytes(8).toString('hex')
    const appKey = [...this.accessTokens].find(([, token]) => token === query.get('access_token'))?.[0]
    if (appKey === undefined) return reply(this.error(110))
    const user = [...this.sessionKeys.keys()].map((key) => key.split('/')).find(([app, name]) => app === appKey && this.openid(appKey, name!) === form.get('openid'))?.[1]
    if (user === undefined) return reply({ errno: 400, errmsg: 'openid invalid', request_id: requestId })
    return reply({ errno: 0, errmsg: 'succ', request_id: requestId, data: { unionid: this.unionid(user) } })
  }
}
