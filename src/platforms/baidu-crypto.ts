import { isUtf8 } from 'node:buffer'
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { DecryptFailure } from './adapter.js'
import { decodeBase64, MAX_ENCRYPTED_DATA_BYTES, parseJsonObject, type Sealed } from './aes-cbc.js'

// Baidu's sensitive-data scheme (PLATFORMS.md 3.3), not WeChat's: AES-192-CBC
// with the 24-byte session key, PKCS#7 over a 32-byte block (Node's own
// unpadding knows only AES's 16, so it is done here), and the plaintext framed
// as 16 random bytes | 4-byte big-endian length | data | app_key. There is no
// watermark: the trailing app key is what binds the data to one app.

/** PKCS#7 as Baidu's official sample applies it: the block is 32 bytes, not AES's 16. */
const PAD_BLOCK = 32
const RANDOM_PREFIX = 16
const LENGTH_BYTES = 4

/** A stored key of the wrong size is ours, not the client's: undecryptable, as for the AES-128 platforms. */
function keyOf (sessionKey: string): Buffer {
  const key = decodeBase64(sessionKey)
  if (key?.length !== 24) throw new DecryptFailure('undecryptable', 'session key is not 24 bytes')
  return key
}

/** The pad length if the last block carries valid 32-byte PKCS#7, else 0; every pad byte is read, whatever it holds. */
function padLength (plain: Buffer): number {
  const pad = plain[plain.length - 1] ?? 0
  let bad = pad < 1 || pad > PAD_BLOCK || pad > plain.length ? 1 : 0
  for (let i = 1; i <= PAD_BLOCK && i <= plain.length; i++) {
    if (i <= pad && plain[plain.length - i] !== pad) bad = 1
  }
  return bad === 0 ? pad : 0
}

/** Constant time whatever the lengths: both sides hashed first. */
function sameText (a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/**
 * Opens `{encryptedData, iv}` sealed by Baidu with the user's session key and
 * checks that it was sealed for `appKey`: the JSON object inside, or a
 * DecryptFailure: `malformed` (its shape, known without any key), else
 * `undecryptable` for everything that took the key (padding, framing, JSON,
 * and a trailer that is not this app's key; the detail tells them apart in
 * the log). Never `wrong_app`: the trailer is not checked by any MAC or
 * grammar, so blocks appended after it leave the JSON intact and only the
 * padding decides; answering a bad trailer apart from bad padding would be
 * a padding oracle that decrypts any block under the user's key.
 */
export function decryptBaiduData (sessionKey: string, encryptedData: string, iv: string, appKey: string): Record<string, unknown> {
  const key = keyOf(sessionKey)
  const ivBytes = decodeBase64(iv)
  const data = decodeBase64(encryptedData)
  if (
    ivBytes?.length !== 16 || data === undefined || data.length === 0 || data.length % 16 !== 0 ||
    data.length > MAX_ENCRYPTED_DATA_BYTES
  ) {
    throw new DecryptFailure('malformed', 'iv or encryptedData malformed')
  }
  const decipher = createDecipheriv('aes-192-cbc', key, ivBytes).setAutoPadding(false)
  const plain = Buffer.concat([decipher.update(data), decipher.final()])
  const pad = padLength(plain)
  const framed = plain.subarray(0, plain.length - pad)
  const length = pad === 0 || framed.length < RANDOM_PREFIX + LENGTH_BYTES ? -1 : framed.readUInt32BE(RANDOM_PREFIX)
  const start = RANDOM_PREFIX + LENGTH_BYTES
  if (length < 0 || start + length > framed.length) throw new DecryptFailure('undecryptable', 'padding or frame')
  const content = framed.subarray(start, start + length)
  const parsed = isUtf8(content) ? parseJsonObject(content.toString('utf8')) : undefined
  // Compared whatever the content held; one kind either way (see above).
  const ours = sameText(framed.subarray(start + length), Buffer.from(appKey, 'utf8'))
  if (parsed === undefined) throw new DecryptFailure('undecryptable', 'content is not a JSON object')
  if (!ours) throw new DecryptFailure('undecryptable', 'trailing app key is another app')
  return parsed
}

/**
 * Seals a payload the way Baidu does, for the fake and for tests. `prefix`
 * fixes the 16 "random" bytes (official vectors), `iv` the IV.
 */
export function sealBaiduData (
  sessionKey: string, appKey: string, payload: object | string, { iv = randomBytes(16), prefix = randomBytes(RANDOM_PREFIX) } = {}
): Sealed {
  const content = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8')
  const length = Buffer.alloc(LENGTH_BYTES)
  length.writeUInt32BE(content.length)
  const framed = Buffer.concat([prefix, length, content, Buffer.from(appKey, 'utf8')])
  const pad = PAD_BLOCK - (framed.length % PAD_BLOCK)
  const cipher = createCipheriv('aes-192-cbc', keyOf(sessionKey), iv).setAutoPadding(false)
  const encrypted = Buffer.concat([cipher.update(Buffer.concat([framed, Buffer.alloc(pad, pad)])), cipher.final()])
  return { encryptedData: encrypted.toString('base64'), iv: iv.toString('base64') }
}
