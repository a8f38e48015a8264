import type { Env } from './env.js'

/** The bytes of a hex or base64 (standard or url-safe) text, only when it is their canonical encoding. */
function decodeSecret (text: string): Buffer | undefined {
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, 'hex')
  if (!/^([A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  const unpadded = text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  return bytes.toString('base64url') === unpadded ? bytes : undefined
}

/** How many different differences between neighbouring bytes. */
const steps = (bytes: Buffer): number => new Set(bytes.subarray(1).map((b, i) => (b - bytes[i]! + 256) % 256)).size

/**
 * What a generator (openssl rand -base64 32 / -hex 32) writes, not a phrase
 * someone typed: 32+ bytes behind the encoding, at least 16 different ones
 * (32 random bytes have about 30), and a text that mixes letters as a random
 * one does (base64: both cases; hex: letters and digits). A random secret
 * fails the text test with a chance below 1e-9. Nor is it a typed phrase put
 * through an encoder (every byte printable ASCII: 32 random bytes are, with a
 * chance near 1e-14) or a counting sequence (16+ different steps between
 * neighbouring bytes, as for the bytes themselves).
 */
export function isRandomSecret (text: string): boolean {
  const bytes = decodeSecret(text)
  if (bytes === undefined || bytes.length < 32 || new Set(bytes).size < 16) return false
  // A phrase merely encoded (echo ... | base64): random bytes are all printable with a chance below 1e-13.
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return false
  // A counting sequence (0x00 0x01 0x02 ..., the base64 alphabet): its steps repeat; 31 random steps take ~29 values.
  if (steps(bytes) < 16 || steps(Buffer.from(text)) < 16) return false
  if (/^[0-9a-fA-F]+$/.test(text)) return /[0-9]/.test(text) && /[a-fA-F]/.test(text)
  return /[a-z]/.test(text) && /[A-Z]/.test(text)
}

// A guessable HS256 secret signs tokens for anyone. Development takes 32 characters with some
// variety (the tests' and examples' secrets); production only what a generator writes.
export function checkJwtSecret (env: Env, problems: string[]): void {
  if (env.JWT_SECRET === undefined || env.JWT_SECRET.length < 32) return
  if (env.NODE_ENV === 'production' && !isRandomSecret(env.JWT_SECRET)) {
    problems.push('JWT_SECRET: in production must be 32 or more random bytes, base64 or hex encoded: generate one with openssl rand -base64 32 (or better, sign with an Ed25519 JWT_PRIVATE_KEY)')
  } else if (new Set(env.JWT_SECRET).size < 10) problems.push('JWT_SECRET: must be random (at least 10 different characters); e.g. openssl rand -base64 32')
}
