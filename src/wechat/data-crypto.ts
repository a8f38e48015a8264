import { createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto'

// WeChat's "sensitive data" scheme: AES-128-CBC, PKCS#7, the session_key as key.
// Failure reasons carry the official sample's codes for the logs only: the
// client sees one uniform error, so answers cannot serve as a padding oracle.

export const MAX_ENCRYPTED_DATA_BYTES = 16 * 1024

export type DecryptFailure = 'illegal_aes_key' | 'illegal_iv' | 'illegal_buffer' | 'decode_base64_error'

export class DataDecryptError extends Error {
  override name = 'DataDecryptError'
  constructor (readonly reason: DecryptFailure, readonly wechatCode: number) {
    super(`${reason} (${wechatCode})`)
  }
}

export interface Watermark {
  appid: string
  timestamp: number
}

export type DecryptedData = Record<string, unknown> & { watermark: Watermark }

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

/** Strict base64: canonical alphabet, padding, and a round trip to the same text. */
export function decodeBase64 (text: string): Buffer | undefined {
  if (text.length % 4 !== 0 || !BASE64.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  return bytes.toString('base64') === text ? bytes : undefined
}

/** What can be said of the input without any key: a problem here is the client's, and safe to name. */
export function checkSealedShape (encryptedData: string, iv: string): { data: Buffer, iv: Buffer } | string {
  const ivBytes = decodeBase64(iv)
  if (ivBytes === undefined) return 'iv is not valid base64'
  if (ivBytes.length !== 16) return 'iv must decode to exactly 16 bytes'
  const data = decodeBase64(encryptedData)
  if (data === undefined) return 'encryptedData is not valid base64'
  if (data.length === 0 || data.length % 16 !== 0) return 'encryptedData must decode to a non-empty multiple of 16 bytes'
  if (data.length > MAX_ENCRYPTED_DATA_BYTES) return `encryptedData must decode to at most ${MAX_ENCRYPTED_DATA_BYTES} bytes`
  return { data, iv: ivBytes }
}

function shapeFailure (problem: string): DataDecryptError {
  if (problem.startsWith('iv')) return new DataDecryptError('illegal_iv', -41002)
  if (problem.includes('base64')) return new DataDecryptError('decode_base64_error', -41004)
  return new DataDecryptError('illegal_buffer', -41003)
}

// WeChat's payloads nest three levels at most; a client shaping the plaintext
// could nest thousands, which would overflow the response serializer.
const MAX_NESTING = 16

function nestedDeeperThan (value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return false
  if (depth === 0) return true
  return Object.values(value).some((child) => nestedDeeperThan(child, depth - 1))
}

/** A JSON object, nested at most MAX_NESTING deep; anything else is undefined. */
export function parseJsonObject (text: string): Record<string, unknown> | undefined {
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { return undefined }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || nestedDeeperThan(parsed, MAX_NESTING)) return undefined
  return parsed as Record<string, unknown>
}

export function decryptData (sessionKey: string, encryptedData: string, iv: string): DecryptedData {
  const key = decodeBase64(sessionKey)
  if (key?.length !== 16) throw new DataDecryptError('illegal_aes_key', -41001)
  const shape = checkSealedShape(encryptedData, iv)
  if (typeof shape === 'string') throw shapeFailure(shape)
  const { data, iv: ivBytes } = shape
  let plaintext: string
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, ivBytes)
    plaintext = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8')
  } catch {
    throw new DataDecryptError('illegal_buffer', -41003)
  }
  const parsed = parseJsonObject(plaintext)
  const watermark = parsed?.watermark as Partial<Watermark> | undefined
  if (typeof watermark?.appid !== 'string' || typeof watermark.timestamp !== 'number') {
    throw new DataDecryptError('illegal_buffer', -41003)
  }
  return parsed as DecryptedData
}

/** rawData's signature: sha1(rawData + session_key) in hex, compared in constant time. */
export function rawDataSignatureMatches (rawData: string, sessionKey: string, signature: string): boolean {
  const expected = createHash('sha1').update(rawData + sessionKey, 'utf8').digest()
  const wellFormed = /^[0-9a-fA-F]{40}$/.test(signature)
  // A malformed signature is still compared (against zeros) so timing does not tell the two apart.
  const given = wellFormed ? Buffer.from(signature, 'hex') : Buffer.alloc(20)
  return timingSafeEqual(expected, given) && wellFormed
}

/**
 * The user login-state signature: HMAC-SHA256 keyed with the session_key string
 * (not decoded) over the request body; wxa/checksession is a GET, whose body is
 * the empty string.
 */
export function sessionKeySignature (sessionKey: string, body = ''): string {
  return createHmac('sha256', sessionKey).update(body).digest('hex')
}
