import { createHash, randomBytes } from 'node:crypto'
import { deriveKey, open, seal } from '../sealing.js'

// 256 bits of randomness; only the SHA-256 is stored (a slow hash buys nothing
// against a secret this long, and refresh is a hot path).
const TOKEN_BYTES = 32
const FORMAT = /^rt_[A-Za-z0-9_-]{43}$/

export interface RefreshSecret {
  token: string
  hash: Buffer
}

export function hashRefreshToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

export function newRefreshToken (): RefreshSecret {
  const token = `rt_${randomBytes(TOKEN_BYTES).toString('base64url')}`
  return { token, hash: hashRefreshToken(token) }
}

export function isRefreshTokenShape (token: string): boolean {
  return FORMAT.test(token)
}

/**
 * The successor of a rotated token, sealed under a key only the holder of the
 * rotated token can derive (the database keeps its SHA-256, never that key),
 * with its hash as associated data. Whoever presents the rotated token again
 * within the grace window gets this same successor back; the stored ciphertext
 * is useless without the token.
 */
export function sealSuccessor (presented: RefreshSecret, successor: string): string {
  return seal(deriveKey('refresh-successor/v1', presented.token), successor, presented.hash)
}

export function openSuccessor (presented: RefreshSecret, sealed: string): string | undefined {
  return open(deriveKey('refresh-successor/v1', presented.token), sealed, presented.hash)
}
