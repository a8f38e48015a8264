import { createHash, randomBytes } from 'node:crypto'

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
