import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { Env } from './env.js'

// Keys are decoded here, while the configuration loads: whatever runs after
// the start gets them parsed and checked, and never parses them again.

/** A public signing key as GET /.well-known/jwks.json serves it. */
export interface Jwk {
  kty: string
  crv: string
  x: string
  y?: string
  kid: string
  alg: 'EdDSA' | 'ES256'
  use: 'sig'
}

export type JwtAlgorithm = Jwk['alg'] | 'HS256'

export interface JwtKeys {
  algorithm: JwtAlgorithm
  /** PEM private key or the shared secret. */
  signingKey: string
  /** Present for asymmetric keys: written into every token's header. */
  kid?: string
  /** kid -> PEM public key (or the secret for HS256 under the key "default"). */
  verifyKeys: Map<string, string>
  /** The public keys as a JWKS; empty for HS256. */
  jwks: Jwk[]
}

/** A session_key encryption key and its id (written into each ciphertext). */
export interface VaultKey {
  id: string
  key: Buffer
}

function algorithmOf (key: KeyObject): Jwk['alg'] {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  throw new Error(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}: use an Ed25519 (EdDSA) or P-256 (ES256) key`)
}

/** RFC 7638 thumbprint: a kid that is the same wherever the key is loaded. */
function thumbprint (jwk: JsonWebKey): string {
  const members = jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url')
}

function publicEntry (key: KeyObject): { kid: string, pem: string, jwk: Jwk } {
  const alg = algorithmOf(key)
  const jwk = key.export({ format: 'jwk' })
  const kid = thumbprint(jwk)
  const entry: Jwk = { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, ...(jwk.y !== undefined ? { y: jwk.y } : {}), kid, alg, use: 'sig' }
  return { kid, pem: key.export({ type: 'spki', format: 'pem' }).toString(), jwk: entry }
}

/** Splits concatenated PEM public keys. */
export function splitPemKeys (text: string): string[] {
  return text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g) ?? []
}

export function parseJwtKeys (
  { privateKey, secret, publicKeys = [] }: { privateKey?: string, secret?: string, publicKeys?: string[] }
): JwtKeys {
  if (secret !== undefined) {
    return { algorithm: 'HS256', signingKey: secret, verifyKeys: new Map([['default', secret]]), jwks: [] }
  }
  if (privateKey === undefined) throw new Error('no signing key: set JWT_PRIVATE_KEY or JWT_SECRET')
  const key = createPrivateKey(privateKey)
  const current = publicEntry(createPublicKey(key))
  const others = publicKeys.map((pem) => publicEntry(createPublicKey(pem)))
  const mismatched = others.find((entry) => entry.jwk.alg !== current.jwk.alg)
  if (mismatched !== undefined) throw new Error(`JWT_PUBLIC_KEYS: key ${mismatched.kid} is ${mismatched.jwk.alg}, the signing key is ${current.jwk.alg}`)
  const all = [current, ...others.filter((entry) => entry.kid !== current.kid)]
  return {
    algorithm: current.jwk.alg,
    signingKey: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    kid: current.kid,
    verifyKeys: new Map(all.map((entry) => [entry.kid, entry.pem])),
    jwks: all.map((entry) => entry.jwk)
  }
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

/** `SESSION_KEY_ENCRYPTION_KEYS`: comma-separated base64 32-byte keys, current first, each optionally `id:base64`. */
export function parseVaultKeys (text: string): VaultKey[] {
  const keys = text.split(',').map((item) => item.trim()).filter(Boolean).map((item, index) => {
    const colon = item.indexOf(':')
    const encoded = colon === -1 ? item : item.slice(colon + 1)
    const key = Buffer.from(encoded, 'base64')
    if (!/^[A-Za-z0-9+/]{43}=$/.test(encoded) || key.length !== 32) {
      throw new Error(`key ${index + 1} is not a base64-encoded 32-byte key`)
    }
    const id = colon === -1 ? createHash('sha256').update(key).digest('hex').slice(0, 8) : item.slice(0, colon)
    if (!KEY_ID.test(id)) throw new Error(`key ${index + 1}: its id must be 1-32 letters, digits, - or _`)
    return { id, key }
  })
  if (keys.length === 0) throw new Error('no key given')
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new Error('two keys share one id')
  return keys
}

export function checkJwtPair (env: Env, problems: string[]): void {
  if (env.JWT_PRIVATE_KEY !== undefined && env.JWT_SECRET !== undefined) {
    problems.push('JWT_PRIVATE_KEY and JWT_SECRET: set one, not both (asymmetric or shared-secret signing)')
  }
}

/** Production runs with its own keys, never generated ones. */
export function checkKeysGiven (env: Env, problems: string[]): void {
  if (env.JWT_PRIVATE_KEY === undefined && env.JWT_SECRET === undefined) problems.push('JWT_PRIVATE_KEY or JWT_SECRET: required when NODE_ENV=production')
  if (env.SESSION_KEY_ENCRYPTION_KEYS === undefined) problems.push('SESSION_KEY_ENCRYPTION_KEYS: required when NODE_ENV=production')
}

export interface ParsedKeys { jwt?: JwtKeys, vault?: VaultKey[] }

/** Parses the keys once: the result is what the service uses, each problem is reported. */
export function readKeys (env: Env, problems: string[]): ParsedKeys {
  const parsed: ParsedKeys = {}
  if (env.JWT_PUBLIC_KEYS !== undefined && splitPemKeys(env.JWT_PUBLIC_KEYS).length === 0) {
    problems.push('JWT_PUBLIC_KEYS: no PEM public key found')
  }
  if (env.JWT_SECRET !== undefined && env.JWT_PRIVATE_KEY === undefined) parsed.jwt = parseJwtKeys({ secret: env.JWT_SECRET })
  if (env.JWT_PRIVATE_KEY !== undefined && env.JWT_SECRET === undefined) {
    try {
      parsed.jwt = parseJwtKeys({ privateKey: env.JWT_PRIVATE_KEY, publicKeys: splitPemKeys(env.JWT_PUBLIC_KEYS ?? '') })
    } catch (error) {
      problems.push(`JWT_PRIVATE_KEY / JWT_PUBLIC_KEYS: ${(error as Error).message.replace(/^JWT_PUBLIC_KEYS: /, '')}`)
    }
  }
  if (env.SESSION_KEY_ENCRYPTION_KEYS !== undefined) {
    try {
      parsed.vault = parseVaultKeys(env.SESSION_KEY_ENCRYPTION_KEYS)
    } catch (error) {
      problems.push(`SESSION_KEY_ENCRYPTION_KEYS: ${(error as Error).message}`)
    }
  }
  return parsed
}
