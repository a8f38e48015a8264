import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto'
import { DecryptFailure } from './adapter.js'

// The "sensitive data" scheme WeChat, QQ, Douyin and Kuaishou share:
// AES-128-CBC, PKCS#7, key = base64(session_key), iv = base64(iv) from the
// client, the plaintext a JSON object that carries a `watermark` where the
// platform has one. One implementation for all four. Every failure after the
// input's shape is one kind (`undecryptable`): bad padding, a wrong key and a
// tampered block are not told apart, so answers cannot serve as a padding oracle.

export const MAX_ENCRYPTED_DATA_BYTES = 16 * 1024

/** The step that failed, named as in WeChat's official sample (for logs only). */
export type SealedStep = 'illegal_aes_key' | 'illegal_iv' | 'illegal_buffer' | 'decode_base64_error'

/** A failure of the scheme: `kind` is what a caller may act on, `step` is for the log. */
export class SealedDataError extends DecryptFailure {
  constructor (kind: DecryptFailure['kind'], readonly step: SealedStep) {
    super(kind, step)
  }
}

export interface Sealed {
  encryptedData: string
  iv: string
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

function shapeFailure (problem: string): SealedDataError {
  if (problem.startsWith('iv')) return new SealedDataError('malformed', 'illegal_iv')
  if (problem.includes('base64')) return new SealedDataError('malformed', 'decode_base64_error')
  return new SealedDataError('malformed', 'illegal_buffer')
}

// The platforms' payloads nest three levels at most; a client shaping the plaintext
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

/** The plaintext JSON object, or SealedDataError. The key is checked first: a bad stored key is ours, not the client's. */
export function openSealed (sessionKey: string, { encryptedData, iv }: Sealed): Record<string, unknown> {
  const key = decodeBase64(sessionKey)
  if (key?.length !== 16) throw new SealedDataError('undecryptable', 'illegal_aes_key')
  const shape = checkSealedShape(encryptedData, iv)
  if (typeof shape === 'string') throw shapeFailure(shape)
  let plaintext: string
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, shape.iv)
    plaintext = Buffer.concat([decipher.update(shape.data), decipher.final()]).toString('utf8')
  } catch {
    throw new SealedDataError('undecryptable', 'illegal_buffer')
  }
  const parsed = parseJsonObject(plaintext)
  // Garbage that happened to end in valid padding (a tampered block, a wrong key) fails exactly like bad padding.
  if (parsed === undefined) throw new SealedDataError('undecryptable', 'illegal_buffer')
  return parsed
}

/** The watermark, when the object carries a well-formed one. */
export function watermarkOf (data: Record<string, unknown>): Watermark | undefined {
  const watermark = data.watermark as Partial<Watermark> | null | undefined
  return typeof watermark?.appid === 'string' && typeof watermark.timestamp === 'number' ? watermark as Watermark : undefined
}

/**
 * Opens data that must carry a watermark (a missing or odd one is
 * undecryptable, as WeChat's sample has it). With `appid`, data sealed for
 * another app is refused as `wrong_app`.
 */
export function openWatermarked (sessionKey: string, sealed: Sealed, appid?: string): DecryptedData {
  const data = openSealed(sessionKey, sealed)
  const watermark = watermarkOf(data)
  if (watermark === undefined) throw new SealedDataError('undecryptable', 'illegal_buffer')
  if (appid !== undefined && watermark.appid !== appid) throw new DecryptFailure('wrong_app', 'watermark.appid is another app')
  return data as DecryptedData
}

/** rawData's signature: sha1(rawData + session_key) in hex, compared in constant time. */
export function rawDataSignatureMatches (rawData: string, sessionKey: string, signature: string): boolean {
  const expected = createHash('sha1').update(rawData + sessionKey, 'utf8').digest()
  const wellFormed = /^[0-9a-fA-F]{40}$/.test(signature)
  // A malformed signature is still compared (against zeros) so timing does not tell the two apart.
  const given = wellFormed ? Buffer.from(signature, 'hex') : Buffer.alloc(20)
  return timingSafeEqual(expected, given) && wellFormed
}
