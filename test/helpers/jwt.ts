import { createHmac, createPrivateKey, randomUUID, sign as cryptoSign } from 'node:crypto'
import { APP, ED25519_PEM } from '../helper.js'

export const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Signs a JWT by hand (EdDSA, HS256 or none), so a test can forge what @fastify/jwt would refuse to make. */
export function forge (header: Record<string, unknown>, payload: Record<string, unknown>, key = ED25519_PEM): string {
  const input = `${b64(header)}.${b64(payload)}`
  if (header.alg === 'none') return `${input}.`
  if (header.alg === 'HS256') return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
  return `${input}.${cryptoSign(null, Buffer.from(input), createPrivateKey(key)).toString('base64url')}`
}

/** The claims of a token the service would sign, with `overrides`. */
export function claims (overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { sub: randomUUID(), sid: randomUUID(), appid: APP.appid, jti: randomUUID(), iss: 'weapp-auth', aud: 'weapp', iat: now, exp: now + 600, ...overrides }
}
