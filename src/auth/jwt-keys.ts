import { createHash, createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { Jwk } from '../schemas/auth.js'

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

export function loadJwtKeys ({ privateKey, secret, publicKeys = [] }: { privateKey?: string, secret?: string, publicKeys?: string[] }): JwtKeys {
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
