import { createCipheriv, createDecipheriv, createSign, createVerify, type KeyObject } from 'node:crypto'
import { DecryptFailure } from './adapter.js'
import { decodeBase64, MAX_ENCRYPTED_DATA_BYTES, parseJsonObject } from './aes-cbc.js'
import { topLevelMembers } from './raw-json.js'

// Alipay's crypto (PLATFORMS.md 4.2-4.4): RSA2 (SHA256withRSA) signatures on
// every request (app private key) and answer (Alipay public key), and its
// AES-128-CBC with a zero IV for the phone number. Answers are verified over
// the exact bytes Alipay signed, before anything in them is believed.

const ZERO_IV = Buffer.alloc(16)

/** Alipay's sign string: every parameter but `sign` and the empty ones, sorted by name, `k=v` joined with `&`. */
export function alipaySignContent (params: Readonly<Record<string, string | undefined>>): string {
  return Object.keys(params)
    .filter((name) => name !== 'sign' && params[name] !== undefined && params[name] !== '')
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join('&')
}

export function rsa2Sign (content: string, privateKey: KeyObject): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64')
}

/** A signature that is not strict base64 never verifies (and never reaches OpenSSL). */
export function rsa2Verify (content: string, sign: unknown, publicKey: KeyObject): boolean {
  const signature = typeof sign === 'string' ? decodeBase64(sign) : undefined
  if (signature === undefined) return false
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(publicKey, signature)
  } catch {
    return false
  }
}

/** The request's parameters with `sign` added over all the others. */
export function signAlipayRequest (params: Readonly<Record<string, string>>, privateKey: KeyObject): Record<string, string> {
  return { ...params, sign: rsa2Sign(alipaySignContent(params), privateKey) }
}

/** Why a gateway answer is not believed. Never an identity; the caller treats it as an unavailable platform. */
export class AlipayAnswerError extends Error {
  override name = 'AlipayAnswerError'
  constructor (readonly reason: 'malformed' | 'unsigned' | 'forged') {
    super(`Alipay answer ${reason}`)
  }
}

export interface AlipayAnswer {
  /** `<method>_response` or `error_response`. */
  key: string
  /** The member's value, parsed from exactly the text the signature covers. */
  value: Record<string, unknown>
  /** False only for an error_response Alipay sent without a sign (it can refuse, never identify). */
  signed: boolean
}

export const responseKeyOf = (method: string): string => `${method.replaceAll('.', '_')}_response`

/**
 * Reads a gateway answer: the raw text of its `<method>_response` (or
 * `error_response`) member is verified against `sign` with Alipay's public
 * key, and only that verified text is parsed. The body is never parsed as a
 * whole, so a member repeated or spliced around the signed one is not read: a
 * body naming its member twice, or both members, is refused outright.
 */
export function openAlipayAnswer (rawBody: string, method: string, alipayPublicKey: KeyObject): AlipayAnswer {
  const members = topLevelMembers(rawBody)
  if (members === undefined) throw new AlipayAnswerError('malformed')
  const present = [responseKeyOf(method), 'error_response'].filter((key) => members.has(key))
  const key = present[0]
  if (key === undefined || present.length > 1) throw new AlipayAnswerError('malformed')
  const raw = members.get(key)!
  const signRaw = members.get('sign')
  if (signRaw === undefined) {
    if (key !== 'error_response') throw new AlipayAnswerError('unsigned')
  } else if (!rsa2Verify(raw, parseJsonString(signRaw), alipayPublicKey)) {
    throw new AlipayAnswerError('forged')
  }
  const value = parseJsonObject(raw)
  if (value === undefined) throw new AlipayAnswerError('malformed')
  return { key, value, signed: signRaw !== undefined }
}

function parseJsonString (raw: string): string | undefined {
  try {
    const value: unknown = JSON.parse(raw)
    return typeof value === 'string' ? value : undefined
  } catch {
    return undefined
  }
}

export function alipayAesEncrypt (aesKey: Buffer, plaintext: string): string {
  const cipher = createCipheriv('aes-128-cbc', aesKey, ZERO_IV)
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64')
}

/** AES-128-CBC, zero IV, PKCS#5, the app's console AES key. Callers verify Alipay's signature first. */
export function alipayAesDecrypt (aesKey: Buffer, ciphertext: string): string {
  const data = decodeBase64(ciphertext)
  if (aesKey.length !== 16) throw new DecryptFailure('undecryptable', 'aes key is not 16 bytes')
  if (data === undefined || data.length === 0 || data.length % 16 !== 0 || data.length > MAX_ENCRYPTED_DATA_BYTES) {
    throw new DecryptFailure('malformed', 'ciphertext malformed')
  }
  try {
    const decipher = createDecipheriv('aes-128-cbc', aesKey, ZERO_IV)
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8')
  } catch {
    throw new DecryptFailure('undecryptable', 'padding')
  }
}

/** What my.getPhoneNumber hands the mini-program: its `response` string, or that string parsed. */
export interface AlipaySealedPhone {
  response: string
  sign: string
  sign_type?: string
  encrypt_type?: string
  charset?: string
}

/**
 * Opens my.getPhoneNumber's payload: the RSA2 signature is over the
 * ciphertext wrapped in double quotes (its JSON text), checked before the AES
 * layer is touched, so a tampered ciphertext never reaches the padding check.
 * The decrypted JSON is returned as Alipay wrote it ({code, msg, mobile, ...}).
 */
export function openAlipayPhone (sealed: string | AlipaySealedPhone, alipayPublicKey: KeyObject, aesKey: Buffer): Record<string, unknown> {
  const payload = typeof sealed === 'string' ? parseJsonObject(sealed) : sealed
  const { response, sign } = payload ?? {}
  if (typeof response !== 'string' || typeof sign !== 'string' || decodeBase64(response) === undefined ||
      (payload?.sign_type !== undefined && payload.sign_type !== 'RSA2') || (payload?.encrypt_type !== undefined && payload.encrypt_type !== 'AES')) {
    throw new DecryptFailure('malformed', 'payload malformed')
  }
  // response is strict base64, so no quote inside it can move where the signed text ends.
  if (!rsa2Verify(`"${response}"`, sign, alipayPublicKey)) throw new DecryptFailure('undecryptable', 'signature does not verify')
  const decrypted = parseJsonObject(alipayAesDecrypt(aesKey, response))
  if (decrypted === undefined) throw new DecryptFailure('undecryptable', 'content is not a JSON object')
  return decrypted
}

/** The payload as Alipay's client would hand it over, for the fake and tests. */
export function sealAlipayPhone (content: object, aesKey: Buffer, alipayPrivateKey: KeyObject): AlipaySealedPhone {
  const response = alipayAesEncrypt(aesKey, JSON.stringify(content))
  return { response, sign: rsa2Sign(`"${response}"`, alipayPrivateKey), sign_type: 'RSA2', encrypt_type: 'AES', charset: 'UTF-8' }
}
