import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

// 256 bits of randomness; only the SHA-256 is stored (a slow hash buys nothing
// against a secret this long, and refresh is a hot path).
const TOKEN_BYTES = 32
const FORMAT = /^rt_[A-Za-z0-9_-]{43}$/
const NONCE_BYTES = 12
const TAG_BYTES = 16

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

/** A key only the holder of `token` can derive: the database keeps its SHA-256, never this. */
function successorKey (token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, '', 'weapp-auth/refresh-successor/v1', 32))
}

/**
 * The successor of a rotated token, sealed under a key derived from the rotated
 * token (AES-256-GCM, its hash as associated data). Whoever presents the
 * rotated token again within the grace window gets this same successor back;
 * the stored ciphertext is useless without the token.
 */
export function sealSuccessor (presented: RefreshSecret, successor: string): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', successorKey(presented.token), nonce)
  cipher.setAAD(presented.hash)
  return Buffer.concat([nonce, cipher.update(successor, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
}

export function openSuccessor (presented: RefreshSecret, sealed: string): string | undefined {
  const bytes = Buffer.from(sealed, 'base64url')
  if (bytes.length <= NONCE_BYTES + TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', successorKey(presented.token), bytes.subarray(0, NONCE_BYTES))
    decipher.setAAD(presented.hash)
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
