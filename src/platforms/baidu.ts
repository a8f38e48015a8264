import { SingleFlight } from '../single-flight.js'
import { DecryptFailure, PlatformRefusal, type PlatformIdentity, type RefusalKind } from './adapter.js'
import { decodeBase64, type Sealed } from './aes-cbc.js'
import { decryptBaiduData } from './baidu-crypto.js'
import { TransportUnavailable, type Answer, type Transport } from './transport.js'
import { upstreamLabel } from './upstream-label.js'

// Baidu smart programs (PLATFORMS.md 3): the code exchanged on spapi.baidu.com
// for openid and a 24-byte session key, OAuth2-style refusals, the unionid by a
// second call on openapi.baidu.com with the app's access token, and the data
// scheme of baidu-crypto.ts. An `apiBase` replaces both origins (the fake).

export interface BaiduApp {
  platform: 'baidu'
  /** The numeric AppID: names the app in the service, never sent to Baidu's login API. */
  appid: string
  /** client_id in Baidu's API, and the trailer every sealed payload must carry. */
  appKey: string
  /** sk / client_secret. */
  secret: string
  /** Fetch the unionid (smartapp/getunionid) at every login; a failure of that call fails the login. */
  unionid?: boolean
  apiBase?: string
}

export const BAIDU_LOGIN_ORIGIN = 'https://spapi.baidu.com'
export const BAIDU_OPENAPI_ORIGIN = 'https://openapi.baidu.com'

/** Taken off the token's 30-day life, so a token is never used in its last hour. */
const TOKEN_MARGIN_MS = 60 * 60 * 1000
/** Baidu's OpenAPI errnos for an access token that is invalid or expired: the cached one is dropped and fetched again. */
const STALE_TOKEN_ERRNOS = new Set([110, 111])

/** openid and unionid: Baidu's are opaque URL-safe text; the columns hold 128. */
const BAIDU_ID = /^[A-Za-z0-9_-]{1,128}$/

// A Map, not an object literal: `error` is Baidu's text, and "constructor" or
// "__proto__" looked up on an object would come back as a kind.
const OAUTH_REFUSALS: ReadonlyMap<string, RefusalKind> = new Map([
  ['invalid_grant', 'code_invalid'],
  ['invalid_client', 'bad_credentials'],
  ['unauthorized_client', 'bad_credentials'],
  ['server_error', 'upstream_busy'],
  ['temporarily_unavailable', 'upstream_busy']
])

function body (answer: Answer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(answer.text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/**
 * An OAuth2 answer: `{error, error_description}` is a refusal whatever the
 * status (OAuth2 servers send it with 400/401), a non-zero `errno` too; any
 * other non-200 or non-object is Baidu's (or a gateway's) fault.
 */
function oauthBody (answer: Answer): Record<string, unknown> {
  const parsed = body(answer)
  if (typeof parsed?.error === 'string') throw new PlatformRefusal('baidu', OAUTH_REFUSALS.get(parsed.error) ?? 'other', upstreamLabel(parsed.error))
  if (answer.status !== 200) throw new TransportUnavailable(`HTTP status ${answer.status}`)
  if (parsed === undefined) throw new TransportUnavailable('body is not a JSON object')
  if (parsed.errno !== undefined && parsed.errno !== 0) throw new PlatformRefusal('baidu', 'other', `errno_${upstreamLabel(parsed.errno)}`)
  return parsed
}

export const isBaiduBusy = (error: unknown): boolean => error instanceof PlatformRefusal && error.kind === 'upstream_busy'

export class BaiduAdapter {
  readonly platform = 'baidu'
  private readonly tokens = new Map<string, { token: string, until: number }>()
  private readonly tokenFetches = new SingleFlight<string>()

  constructor (private readonly transport: Transport, private readonly now: () => number = Date.now) {}

  async exchange (app: BaiduApp, code: string): Promise<PlatformIdentity> {
    const answer = await this.transport.call({
      api: 'jscode2sessionkey',
      origin: app.apiBase ?? BAIDU_LOGIN_ORIGIN,
      method: 'POST',
      path: '/oauth/jscode2sessionkey',
      form: { code, client_id: app.appKey, sk: app.secret }
    }, oauthBody)
    // Every field checked: an empty or odd openid would be one account shared by everyone Baidu says it for.
    const { openid, session_key: sessionKey } = answer
    if (typeof openid !== 'string' || !BAIDU_ID.test(openid)) throw new TransportUnavailable('openid missing or malformed')
    if (typeof sessionKey !== 'string' || decodeBase64(sessionKey)?.length !== 24) throw new TransportUnavailable('session_key missing or malformed')
    const identity: PlatformIdentity = { subject: openid, subjectKind: 'openid', sessionKey }
    if (app.unionid === true) identity.unionid = await this.unionid(app, openid)
    return identity
  }

  /** smartapp/getunionid: the developer-wide id, from Baidu's server, never from the client. */
  async unionid (app: BaiduApp, openid: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.accessToken(app)
      try {
        const answer = await this.transport.call({
          api: 'getunionid',
          origin: app.apiBase ?? BAIDU_OPENAPI_ORIGIN,
          method: 'POST',
          path: '/rest/2.0/smartapp/getunionid',
          query: { access_token: token },
          form: { openid }
        }, oauthBody)
        const unionid = (answer.data as { unionid?: unknown } | null | undefined)?.unionid
        if (typeof unionid !== 'string' || !BAIDU_ID.test(unionid)) throw new TransportUnavailable('unionid missing or malformed')
        return unionid
      } catch (error) {
        if (attempt > 1 || !(error instanceof PlatformRefusal) || !STALE_TOKEN_ERRNOS.has(Number(error.upstream.replace('errno_', '')))) throw error
        if (this.tokens.get(app.appKey)?.token === token) this.tokens.delete(app.appKey)
      }
    }
  }

  /** Drops every cached access token (a secret rotated in the console). */
  forgetAccessTokens (): void {
    this.tokens.clear()
  }

  /** The app's access token (oauth/2.0/token, 30 days), fetched once for all callers and kept until an hour before it ends. */
  private async accessToken (app: BaiduApp): Promise<string> {
    const cached = this.tokens.get(app.appKey)
    if (cached !== undefined && cached.until > this.now()) return cached.token
    return this.tokenFetches.run(app.appKey, async () => {
      const answer = await this.transport.call({
        api: 'oauth_token',
        origin: app.apiBase ?? BAIDU_OPENAPI_ORIGIN,
        method: 'POST',
        path: '/oauth/2.0/token',
        form: { grant_type: 'client_credentials', client_id: app.appKey, client_secret: app.secret, scope: 'smartapp_snsapi_base' }
      }, oauthBody)
      const { access_token: token, expires_in: expiresIn } = answer
      if (typeof token !== 'string' || token === '' || typeof expiresIn !== 'number' || !(expiresIn > 0)) throw new TransportUnavailable('access_token missing or malformed')
      this.tokens.set(app.appKey, { token, until: this.now() + expiresIn * 1000 - TOKEN_MARGIN_MS })
      return token
    })
  }

  /** Sensitive data sealed with the user's session key; the trailing app key must be this app's. Throws DecryptFailure. */
  decrypt (app: BaiduApp, sessionKey: string, sealed: Sealed): Record<string, unknown> {
    return decryptBaiduData(sessionKey, sealed.encryptedData, sealed.iv, app.appKey)
  }

  /**
   * The getPhoneNumber button's payload: the same scheme, the number in
   * `mobile` (Baidu's sample). Only a mainland mobile number is taken: with no
   * MAC, a client flipping bits of the first ciphertext block steers bytes
   * 16-31 of the plaintext unseen, and the number's first digit is byte 31.
   * Requiring its leading 1 leaves nothing there to steer.
   */
  phone (app: BaiduApp, sessionKey: string, sealed: Sealed): { phoneNumber: string } {
    const { mobile } = this.decrypt(app, sessionKey, sealed)
    if (typeof mobile !== 'string' || !/^1\d{10}$/.test(mobile)) throw new DecryptFailure('undecryptable', 'mobile missing or malformed')
    return { phoneNumber: mobile }
  }
}
