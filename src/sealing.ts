import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

// AES-256-GCM with a fresh 96-bit nonce per seal, as base64url(nonce | ciphertext | tag),
// bound to associated data: what every secret this service keeps at rest is wrapped in
// (session_keys, refresh-token successors, login grants and WeChat tokens in Redis).

const NONCE_BYTES = 12
const TAG_BYTES = 16

/**
 * A 256-bit key for one purpose, from secrets that are already strong (a refresh
 * token, a login code, an AppSecret): a domain-separated SHA-256. HKDF would add
 * nothing over a single hash of a high-entropy input, and cost ten times more on
 * the login and refresh paths.
 */
export function deriveKey (purpose: string, ...secrets: string[]): Buffer {
  return createHash('sha256').update(`weapp-auth/${purpose}\0${secrets.join('\0')}`).digest()
}

export function seal (key: Buffer, plaintext: string, associated: Buffer | string): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(typeof associated === 'string' ? Buffer.from(associated) : associated)
  return Buffer.concat([nonce, cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
}

/** The plaintext, or undefined when the key, the associated data or the ciphertext is not the one sealed. */
export function open (key: Buffer, sealed: string, associated: Buffer | string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length <= NONCE_BYTES + TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES))
    decipher.setAAD(typeof associated === 'string' ? Buffer.from(associated) : associated)
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
