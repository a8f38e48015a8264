import type { KeyObject } from 'node:crypto'
import { DecryptFailure, PlatformRefusal, type PlatformIdentity, type RefusalKind } from './adapter.js'
import { AlipayAnswerError, openAlipayAnswer, openAlipayPhone, signAlipayRequest, type AlipaySealedPhone } from './alipay-crypto.js'
import { TransportUnavailable, type Answer, type Transport } from './transport.js'
import { upstreamLabel } from './upstream-label.js'

// Alipay mini-programs (PLATFORMS.md 4): one signed gateway call,
// alipay.system.oauth.token, whose answer is believed only once Alipay's
// signature over its raw text holds. There is no session key: the phone
// payload is sealed with the app's AES key and signed by Alipay.

export interface AlipayApp {
  platform: 'alipay'
  appid: string
  /** The app private key: signs every request. */
  privateKey: KeyObject
  /** Alipay's public key for this app: verifies every answer and phone payload. */
  alipayPublicKey: KeyObject
  /** The console's content-encryption key (16 bytes, AES-128). */
  aesKey: Buffer
  apiBase?: string
}

export const ALIPAY_ORIGIN = 'https://openapi.alipay.com'
const OAUTH_METHOD = 'alipay.system.oauth.token'
const SUCCESS = '10000'

/** user_id: 16 digits starting 2088 (global to the Alipay account). */
const USER_ID = /^2088\d{12}$/
/** open_id and union_id: opaque URL-safe text; the columns hold 128. */
const ALIPAY_ID = /^[A-Za-z0-9_-]{1,128}$/

/** Errors of the app's own set-up: keys, signature, permissions. */
const CREDENTIAL_SUB_CODES = new Set([
  'isv.invalid-app-id', 'isv.missing-app-id', 'isv.invalid-signature', 'isv.missing-signature', 'isv.invalid-signature-type',
  'isv.missing-signature-type', 'isv.missing-default-signature-type', 'isv.invalid-encrypt', 'isv.invalid-auth-relations',
  'isv.insufficient-isv-permissions'
])

/**
 * Alipay's {code, sub_code} onto the service's kinds: isv.code-invalid is a
 * wrong, used, expired or other app's code; `isp.*` and 20000 are Alipay's
 * own trouble (retryable); 20001 and 40006 are permissions.
 */
export function alipayRefusalKind (code: unknown, subCode: unknown): RefusalKind {
  if (subCode === 'isv.code-invalid') return 'code_invalid'
  if (code === '20000' || (typeof subCode === 'string' && (subCode.startsWith('isp.') || subCode === 'aop.unknow-error'))) return 'upstream_busy'
  if (code === '20001' || code === '40006' || (typeof subCode === 'string' && CREDENTIAL_SUB_CODES.has(subCode))) return 'bad_credentials'
  return 'other'
}

/** The gateway names it sub_code; the phone payload's error, subCode (my.getPhoneNumber's documented shape). */
function refusal (value: Record<string, unknown>, subCode: unknown = value.sub_code): PlatformRefusal {
  return new PlatformRefusal('alipay', alipayRefusalKind(value.code, subCode), upstreamLabel(subCode ?? value.code))
}

/** "yyyy-MM-dd HH:mm:ss" in Beijing time, as the gateway wants its timestamp. */
export function gatewayTimestamp (ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
}

export const isAlipayBusy = (error: unknown): boolean => error instanceof PlatformRefusal && error.kind === 'upstream_busy'

export class AlipayAdapter {
  readonly platform = 'alipay'

  constructor (private readonly transport: Transport, private readonly now: () => number = Date.now) {}

  /** my.getAuthCode's authCode for the user's id: user_id (global) or open_id (per app), whichever the app is set to return. */
  async exchange (app: AlipayApp, code: string): Promise<PlatformIdentity> {
    const params = signAlipayRequest({
      app_id: app.appid,
      method: OAUTH_METHOD,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: gatewayTimestamp(this.now()),
      version: '1.0',
      grant_type: 'authorization_code',
      code
    }, app.privateKey)
    const token = await this.transport.call({
      api: OAUTH_METHOD,
      origin: app.apiBase ?? ALIPAY_ORIGIN,
      method: 'POST',
      path: '/gateway.do',
      form: params
    }, (answer) => this.read(app, answer))
    const { user_id: userId, open_id: openId, union_id: unionId } = token
    // user_id first: an app moved to open_id gets only open_id, and one given both keeps the id it always had.
    const identity: PlatformIdentity | undefined = typeof userId === 'string' && USER_ID.test(userId)
      ? { subject: userId, subjectKind: 'user_id' }
      : userId === undefined && typeof openId === 'string' && ALIPAY_ID.test(openId) ? { subject: openId, subjectKind: 'openid' } : undefined
    if (identity === undefined) throw new TransportUnavailable('user_id / open_id missing or malformed')
    if (unionId !== undefined && unionId !== '') {
      if (typeof unionId !== 'string' || !ALIPAY_ID.test(unionId)) throw new TransportUnavailable('union_id malformed')
      identity.unionid = unionId
    }
    return identity
  }

  /** The answer's signed member, or a refusal; nothing unverified is ever read as a success. */
  private read (app: AlipayApp, answer: Answer): Record<string, unknown> {
    if (answer.status !== 200) throw new TransportUnavailable(`HTTP status ${answer.status}`)
    let opened
    try {
      opened = openAlipayAnswer(answer.text, OAUTH_METHOD, app.alipayPublicKey)
    } catch (error) {
      if (error instanceof AlipayAnswerError) throw new TransportUnavailable(`answer ${error.reason}`)
      throw error
    }
    if (opened.key === 'error_response' || (opened.value.code !== undefined && opened.value.code !== SUCCESS)) throw refusal(opened.value)
    return opened.value
  }

  /**
   * my.getPhoneNumber's payload (its `response` string, or that parsed):
   * Alipay's signature first, then the app's AES key. Alipay's own refusal
   * inside (e.g. isv.invalid-auth-relations) comes back as a PlatformRefusal.
   */
  phone (app: AlipayApp, sealed: string | AlipaySealedPhone): { phoneNumber: string } {
    const content = openAlipayPhone(sealed, app.alipayPublicKey, app.aesKey)
    if (content.code !== SUCCESS) throw refusal(content, content.subCode ?? content.sub_code)
    const { mobile } = content
    if (typeof mobile !== 'string' || !/^\+?\d{5,20}$/.test(mobile)) throw new DecryptFailure('undecryptable', 'mobile missing or malformed')
    return { phoneNumber: mobile }
  }
}
