import { createHash, randomBytes } from 'node:crypto'
import type { Sealed } from '../platforms/aes-cbc.js'
import { sealBaiduData } from '../platforms/baidu-crypto.js'
import { FakePlatformServer, jsonReply, type FakeFault, type FakeReply, type FakeRequest } from './fake-platform.js'

/**
 * A stand-in for Baidu's spapi.baidu.com and openapi.baidu.com, speaking their
 * protocol (POST forms, OAuth2 `error` refusals, `errno` envelopes), and the
 * smart program's side: swan.getLoginCode and the sealed data it hands over.
 */

export interface FakeBaiduApp {
  appKey: string
  secret: string
}

interface IssuedCode { appKey: string, user: string, issuedAt: number, used: boolean }

const CODE_TTL_MS = 10 * 60 * 1000
const ACCESS_TOKEN_TTL_SECONDS = 2_592_000

const DESCRIPTIONS: Record<string, string> = {
  invalid_grant: 'Invalid authorization code',
  invalid_client: 'unknown client id',
  invalid_request: 'invalid request'
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url')

export class FakeBaidu extends FakePlatformServer {
  private readonly apps = new Map<string, FakeBaiduApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private readonly sessionKeys = new Map<string, string>()
  private readonly accessTokens = new Map<string, string>()

  constructor (apps: FakeBaiduApp[], private readonly now: () => number = Date.now) {
    super()
    for (const app of apps) this.apps.set(app.appKey, { ...app })
  }

  /** swan.getLoginCode(): a single-use code, and a fresh 24-byte session key for the user. */
  login (appKey: string, user: string): { code: string, openid: string } {
    this.sessionKeys.set(`${appKey}/${user}`, randomBytes(24).toString('base64'))
    const code = randomBytes(20).toString('hex')
    this.codes.set(code, { appKey, user, issuedAt: this.now(), used: false })
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

  protected route (request: FakeRequest, fault: FakeFault | undefined): FakeReply {
    if (fault?.error !== undefined) return this.oauthError(fault.error)
    if (fault?.body !== undefined) return jsonReply(fault.body)
    if (request.method === 'POST' && request.path === '/oauth/jscode2sessionkey') return this.jscode2sessionkey(request.form)
    if (request.method === 'POST' && request.path === '/oauth/2.0/token') return this.token(request.form)
    if (request.method === 'POST' && request.path === '/rest/2.0/smartapp/getunionid') return this.getunionid(request)
    return jsonReply({ error: 'invalid_request', error_description: 'not found' }, 404)
  }

  private oauthError (error: string): FakeReply {
    return jsonReply({ error, error_description: DESCRIPTIONS[error] ?? error }, error === 'invalid_client' ? 401 : 400)
  }

  private jscode2sessionkey (form: URLSearchParams): FakeReply {
    const app = this.apps.get(form.get('client_id') ?? '')
    if (app === undefined || form.get('sk') !== app.secret) return this.oauthError('invalid_client')
    const issued = this.codes.get(form.get('code') ?? '')
    if (issued === undefined || issued.used || issued.appKey !== app.appKey || this.now() - issued.issuedAt > CODE_TTL_MS) return this.oauthError('invalid_grant')
    issued.used = true
    return jsonReply({ openid: this.openid(app.appKey, issued.user), session_key: this.sessionKey(app.appKey, issued.user) })
  }

  private token (form: URLSearchParams): FakeReply {
    const app = this.apps.get(form.get('client_id') ?? '')
    if (app === undefined || form.get('client_secret') !== app.secret) return this.oauthError('invalid_client')
    if (form.get('grant_type') !== 'client_credentials') return this.oauthError('unsupported_grant_type')
    const token = `24.${randomBytes(24).toString('hex')}`
    this.accessTokens.set(app.appKey, token)
    return jsonReply({ access_token: token, expires_in: ACCESS_TOKEN_TTL_SECONDS, scope: form.get('scope') ?? '', session_key: '', session_secret: '' })
  }

  private getunionid ({ query, form }: FakeRequest): FakeReply {
    const requestId = randomBytes(8).toString('hex')
    const appKey = [...this.accessTokens].find(([, token]) => token === query.get('access_token'))?.[0]
    if (appKey === undefined) return jsonReply({ errno: 110, errmsg: 'Access token invalid or no longer valid', request_id: requestId })
    const user = [...this.sessionKeys.keys()].map((key) => key.split('/')).find(([app, name]) => app === appKey && this.openid(appKey, name!) === form.get('openid'))?.[1]
    if (user === undefined) return jsonReply({ errno: 400, errmsg: 'openid invalid', request_id: requestId })
    return jsonReply({ errno: 0, errmsg: 'succ', request_id: requestId, data: { unionid: this.unionid(user) } })
  }
}
