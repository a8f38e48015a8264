import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { alipaySignContent, rsa2Sign, rsa2Verify, sealAlipayPhone, type AlipaySealedPhone } from '../platforms/alipay-crypto.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FakeServer, clientOf, newCode, readForm, type IssuedCode } from './fake-server.js'
import { DEMO_PHONE } from './fake-wechat-data.js'

/**
 * A stand-in for Alipay's openapi gateway (gateway.do): it checks each
 * request's RSA2 signature with the app's public key and signs each answer
 * over its member's exact text with its own key (`alipayPublicKey` is what an
 * app configures). It also plays the mini-program side: my.getAuthCode and
 * my.getPhoneNumber's sealed payload. The shared faults' `errcode` and `body`
 * answer unsigned; `setAnswerFault()` shapes signed (or forged) answers.
 */

export interface FakeAlipayApp {
  appid: string
  /** The app's public key, for the requests it signs. */
  appPublicKey: KeyObject
  aesKey: Buffer
  /** What the app is set to return: the global user_id (default) or the per-app open_id. */
  subject?: 'user_id' | 'open_id'
  /** In an app group: answers carry union_id. */
  grouped?: boolean
}

/** Faults in Alipay's own answer, past the request's checks. */
export interface AnswerFault {
  /** Refuse with this sub_code (isv.code-invalid, isp.unknow-error...), in a signed error_response. */
  subCode?: string
  /** Answer this value as the method's member, signed: an Alipay that lies. */
  body?: Record<string, unknown>
  /** Sign answers with a key that is not Alipay's. */
  forged?: boolean
  /** Send answers without a sign. */
  unsigned?: boolean
  /** After the signed answer, repeat its member with this value (JSON.parse would keep the repeat). */
  splice?: Record<string, unknown>
  /** How many answers the fault shapes; all when absent. */
  times?: number
}

/** Key pairs a fake may be given instead of generating its own. */
export interface FakeAlipayKeys {
  /** Alipay's own pair: signs answers; its public half is what an app configures. */
  alipay?: { publicKey: KeyObject, privateKey: KeyObject }
  /** A key that is not Alipay's, for forged answers. */
  forger?: KeyObject
}

interface Reply { status: number, text: string }

const METHOD = 'alipay.system.oauth.token'
const RESPONSE_KEY = 'alipay_system_oauth_token_response'
const CODE_TTL_MS = 3 * 60 * 1000
const TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

const ERRORS: Record<string, [code: string, msg: string, subMsg: string]> = {
  'isv.code-invalid': ['40002', 'Invalid Arguments', '授权码code无效'],
  'isv.invalid-app-id': ['40002', 'Invalid Arguments', '无效的AppID参数'],
  'isv.invalid-signature': ['40002', 'Invalid Arguments', '验签出错'],
  'isv.invalid-method': ['40002', 'Invalid Arguments', '不存在的方法名'],
  'isv.invalid-timestamp': ['40002', 'Invalid Arguments', '非法的时间戳参数'],
  'isv.grant-type-invalid': ['40002', 'Invalid Arguments', 'grant_type参数不正确'],
  'isv.invalid-auth-relations': ['40003', 'Insufficient Conditions', '无效的授权关系'],
  'isv.missing-default-signature-type': ['40001', 'Missing Required Arguments', '应用未设置默认签名类型'],
  'isp.unknow-error': ['20000', 'Service Currently Unavailable', '系统繁忙'],
  'aop.unknow-error': ['20000', 'Service Currently Unavailable', '系统繁忙']
}

const digits = (text: string, length: number): string => BigInt(`0x${createHash('sha256').update(text).digest('hex')}`).toString().slice(0, length)

export class FakeAlipay extends FakeServer {
  readonly alipayPublicKey: KeyObject
  private readonly alipayPrivateKey: KeyObject
  private readonly forger: KeyObject
  private readonly apps = new Map<string, FakeAlipayApp>()
  private readonly codes = new Map<string, IssuedCode>()
  private answerFault?: AnswerFault

  /** `keys`: Alipay's pair and the forger's key, where a caller reuses them (RSA key generation is slow); fresh ones otherwise. */
  constructor (apps: FakeAlipayApp[], private readonly now: () => number = Date.now, keys: FakeAlipayKeys = {}) {
    super()
    const { publicKey, privateKey } = keys.alipay ?? generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.alipayPublicKey = publicKey
    this.alipayPrivateKey = privateKey
    this.forger = keys.forger ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    for (const app of apps) this.apps.set(app.appid, { ...app })
  }

  /** my.getAuthCode(): a single-use authCode. */
  getAuthCode (appid: string, user: string): string {
    const code = newCode()
    this.codes.set(code, { appid, user, issuedAt: this.now(), used: false })
    return code
  }

  userId (user: string): string {
    return `2088${digits(`user/${user}`, 12)}`
  }

  openId (appid: string, user: string): string {
    return `0${createHash('sha256').update(`${appid}/${user}`).digest('base64url').slice(0, 42)}`
  }

  unionId (user: string): string {
    return `un${createHash('sha256').update(`union/${user}`).digest('base64url').slice(0, 30)}`
  }

  /** my.getPhoneNumber's `response` string: sealed with the app's AES key (or `aesKey`), signed by Alipay. */
  phoneResponse (appid: string, mobile: string, { aesKey = this.app(appid).aesKey, content = { code: '10000', msg: 'Success', mobile } as object } = {}): string {
    const sealed: AlipaySealedPhone = sealAlipayPhone(content, aesKey, this.alipayPrivateKey)
    return JSON.stringify(sealed)
  }

  /** my.getPhoneNumber refused: Alipay's error sealed and signed like a number, its names in camelCase (subCode, subMsg) as documented. */
  phoneRefusal (appid: string, subCode: string): string {
    const { code, msg, sub_code: sub, sub_msg: subMsg } = this.errorValue(subCode)
    return this.phoneResponse(appid, '', { content: { code, msg, subCode: sub, subMsg } })
  }

  /** my's side over HTTP: my.getAuthCode and my.getPhoneNumber's payload ({ response, sign }). Alipay has no checkSession. */
  protected override clientSide (path: string, body: Record<string, unknown>): (() => unknown) | undefined {
    const { appid, user } = clientOf(body)
    const calls: Record<string, () => unknown> = {
      '/__fake/login': () => ({ code: this.getAuthCode(this.app(appid).appid, user) }),
      '/__fake/phone': () => JSON.parse(this.phoneResponse(appid, String(body.mobile ?? DEMO_PHONE.purePhoneNumber)))
    }
    return calls[path]
  }

  private app (appid: string): FakeAlipayApp {
    const app = this.apps.get(appid)
    if (app === undefined) throw new Error(`unknown app ${appid}`)
    return app
  }

  setAnswerFault (fault: AnswerFault | undefined): void {
    this.answerFault = fault === undefined ? undefined : { ...fault }
  }

  /** The shared `errcode` fault: an unsigned error_response, as Alipay sends when it cannot sign. */
  protected error (code: number): object {
    return { error_response: { code: String(code), msg: 'Service Currently Unavailable' } }
  }

  protected async route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || url.pathname !== '/gateway.do') return this.answer(res, 404, { error: 'not found' })
    const fault = this.answerFault
    if (fault?.times !== undefined && --fault.times <= 0) this.answerFault = undefined
    const { status, text } = this.gateway(await readForm(req), fault)
    if (!res.headersSent && !res.destroyed) res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' }).end(text)
  }

  private gateway (form: URLSearchParams, fault: AnswerFault | undefined): Reply {
    const app = this.apps.get(form.get('app_id') ?? '')
    // Alipay cannot sign for an app it does not know: that refusal goes unsigned.
    if (app === undefined) return { status: 200, text: JSON.stringify({ error_response: this.errorValue('isv.invalid-app-id') }) }
    const params = Object.fromEntries(form)
    if (form.get('sign_type') !== 'RSA2' || !rsa2Verify(alipaySignContent(params), form.get('sign'), app.appPublicKey)) return this.refusal('isv.invalid-signature', fault)
    if (form.get('method') !== METHOD) return this.refusal('isv.invalid-method', fault)
    if (!TIMESTAMP.test(form.get('timestamp') ?? '')) return this.refusal('isv.invalid-timestamp', fault)
    if (fault?.subCode !== undefined) return this.refusal(fault.subCode, fault)
    if (fault?.body !== undefined) return this.signed(RESPONSE_KEY, fault.body, fault)
    if (form.get('grant_type') !== 'authorization_code') return this.refusal('isv.grant-type-invalid', fault)
    const issued = this.codes.get(form.get('code') ?? '')
    if (issued === undefined || issued.used || issued.appid !== app.appid || this.now() - issued.issuedAt > CODE_TTL_MS) return this.refusal('isv.code-invalid', fault)
    issued.used = true
    return this.signed(RESPONSE_KEY, {
      access_token: `authusrB${randomBytes(16).toString('hex')}`,
      auth_start: new Date(this.now() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' '),
      expires_in: 1_296_000,
      re_expires_in: 2_592_000,
      refresh_token: `authusrB${randomBytes(16).toString('hex')}`,
      ...(app.subject === 'open_id' ? { open_id: this.openId(app.appid, issued.user) } : { user_id: this.userId(issued.user) }),
      ...(app.grouped === true ? { union_id: this.unionId(issued.user) } : {})
    }, fault)
  }

  private errorValue (subCode: string): { code: string, msg: string, sub_code: string, sub_msg: string } {
    const [code, msg, subMsg] = ERRORS[subCode] ?? ['40004', 'Business Failed', subCode]
    return { code, msg, sub_code: subCode, sub_msg: subMsg }
  }

  private refusal (subCode: string, fault: AnswerFault | undefined): Reply {
    return this.signed('error_response', this.errorValue(subCode), fault)
  }

  /** The member, then a sign over its text exactly as written. */
  private signed (key: string, value: object, fault: AnswerFault | undefined): Reply {
    const raw = JSON.stringify(value)
    const sign = rsa2Sign(raw, fault?.forged === true ? this.forger : this.alipayPrivateKey)
    const splice = fault?.splice === undefined ? '' : `,"${key}":${JSON.stringify(fault.splice)}`
    const text = fault?.unsigned === true ? `{"${key}":${raw}${splice}}` : `{"${key}":${raw},"sign":"${sign}"${splice}}`
    return { status: 200, text }
  }
}
