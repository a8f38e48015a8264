import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto'

// How WeChat's client seals sensitive data for the developer's server. Written
// here independently of src/wechat/data-crypto.ts, so a test that decrypts what
// the fake encrypts checks one implementation against another.

export interface Sealed {
  encryptedData: string
  iv: string
}

export function sealForUser (sessionKey: string, payload: object): Sealed {
  const iv = randomBytes(16)
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()])
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') }
}

export function signRawData (rawData: string, sessionKey: string): string {
  return createHash('sha1').update(rawData + sessionKey, 'utf8').digest('hex')
}

export function checkSessionSignature (sessionKey: string): string {
  return createHmac('sha256', Buffer.from(sessionKey, 'ascii')).update(Buffer.alloc(0)).digest('hex')
}

export interface FakeProfile {
  nickName: string
  avatarUrl?: string
  gender?: number
  language?: string
  city?: string
  province?: string
  country?: string
}

export interface FakePhone {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string
}

/** The number the fakes' phone buttons hand over when a caller names none. */
export const DEMO_PHONE: FakePhone = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
