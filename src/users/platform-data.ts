import type { AlipayApp, App, BaiduApp, DouyinApp, Platform, SecretApp } from '../config/index.js'
import { SchemeUnsupported } from '../errors.js'
import type { Sealed } from '../platforms/aes-cbc.js'
import type { AlipaySealedPhone } from '../platforms/alipay-crypto.js'
import type { PlatformPhone } from '../platforms/session-key-adapter.js'
import { phoneFromWechat, type PhoneFields } from './profile.js'

// Which body each user-data route takes on each platform (issue 21, item 3),
// and the adapters' calls the user service makes for the platforms other than
// WeChat. Only the crypto of the adapters is used here: no call leaves the
// process, so the adapters' transports are never touched.

/** The apps other than WeChat's, whose user data goes through an adapter. */
export type PlatformApp = Exclude<App, { platform: 'wechat' }>

/** What the user service asks of each platform's adapter (src/platforms/). */
export interface DataAdapters {
  qq: { decrypt: (app: SecretApp<'qq'>, sessionKey: string, sealed: Sealed) => Record<string, unknown> }
  douyin: {
    decrypt: (app: DouyinApp, sessionKey: string, sealed: Sealed) => Record<string, unknown>
    phone: (app: DouyinApp, sessionKey: string, sealed: Sealed) => PlatformPhone
  }
  kuaishou: {
    decrypt: (app: SecretApp<'kuaishou'>, sessionKey: string, sealed: Sealed) => Record<string, unknown>
    phone: (app: SecretApp<'kuaishou'>, sessionKey: string, sealed: Sealed) => PlatformPhone
  }
  baidu: {
    decrypt: (app: BaiduApp, sessionKey: string, sealed: Sealed) => Record<string, unknown>
    phone: (app: BaiduApp, sessionKey: string, sealed: Sealed) => { phoneNumber: string }
  }
  alipay: { phone: (app: AlipayApp, sealed: AlipaySealedPhone) => { phoneNumber: string } }
}

/** The phone route's body: a button code, data sealed with the session key, or Alipay's signed payload. */
export type PhoneInput = { code: string } | Sealed | AlipaySealedPhone

export const PLATFORM_NAMES: Record<Platform, string> = {
  wechat: 'WeChat', qq: 'QQ', douyin: 'Douyin', baidu: 'Baidu', alipay: 'Alipay', kuaishou: 'Kuaishou'
}

const SEND_CODE = 'send { code } from the getPhoneNumber button'
const SEND_SEALED = 'send { encryptedData, iv } from the getPhoneNumber button'
const SEND_ALIPAY = "send my.getPhoneNumber's { response, sign }"

/** The phone scheme each platform has, and what to send instead of any other; QQ has none. */
const PHONE_SCHEMES: Record<Platform, { takes?: 'code' | 'sealed' | 'alipay', instead: string }> = {
  wechat: { takes: 'code', instead: SEND_CODE },
  douyin: { takes: 'sealed', instead: SEND_SEALED },
  kuaishou: { takes: 'sealed', instead: SEND_SEALED },
  baidu: { takes: 'sealed', instead: SEND_SEALED },
  alipay: { takes: 'alipay', instead: SEND_ALIPAY },
  qq: { instead: 'QQ mini-programs cannot share the phone number' }
}

const schemeOf = (body: PhoneInput): 'code' | 'sealed' | 'alipay' => 'code' in body ? 'code' : 'encryptedData' in body ? 'sealed' : 'alipay'

const SCHEME_NAMES = { code: 'phone code API', sealed: 'encrypted phone data', alipay: 'Alipay phone payload' } as const

/** Which scheme the body is, once it is the one the platform has; else SCHEME_UNSUPPORTED naming what to send. */
export function phoneScheme (platform: Platform, body: PhoneInput): 'code' | 'sealed' | 'alipay' {
  const { takes, instead } = PHONE_SCHEMES[platform]
  const scheme = schemeOf(body)
  if (takes !== scheme) throw new SchemeUnsupported(PLATFORM_NAMES[platform], takes === undefined ? 'phone number API' : SCHEME_NAMES[scheme], instead)
  return scheme
}

/** A platform's phone as the service stores and answers it (WeChat's three fields, cut to the columns). */
export function phoneFields (phone: PlatformPhone | { phoneNumber: string }): PhoneFields {
  const { phoneNumber } = phone
  const mainland = /^1\d{10}$/.test(phoneNumber)
  const countryCode = 'countryCode' in phone ? phone.countryCode : mainland ? '86' : ''
  const purePhoneNumber = 'purePhoneNumber' in phone && phone.purePhoneNumber !== undefined ? phone.purePhoneNumber : phoneNumber.replace(/^\+/, '')
  return phoneFromWechat({ phoneNumber, purePhoneNumber, countryCode })!
}
