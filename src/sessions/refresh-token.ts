import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { deriveKey, open, seal } from '../sealing.js'
import type { VaultKey } from '../config/keys.js'

// The refresh-token scheme: O(1) rows per session.
//
//   token   = "rt2." keyId "." base64url(sessionId 16 | generation 4 | random 32 | mac 16)
//   mac     = HMAC-SHA256(macKey[keyId], "rt2." keyId "." sessionId | generation | random), first 16 bytes
//   macKey  = HKDF-SHA256(SESSION_KEY_ENCRYPTION_KEYS entry keyId, salt "", info "weapp-auth/refresh-token-mac/v1")
//
// The session row holds its current generation, the current token's SHA-256
// and expiry, and for the grace window the previous token's SHA-256, when it
// was retired and its successor (the current token) sealed under a key derived
// from that previous token (the database alone cannot open it).
//
// - A rotation is one UPDATE of the session row, matched by id and the current
//   token's hash (and live: not revoked, not past its end, user not banned); it
//   bumps the generation and inserts nothing. Logout, ban and reuse also update
//   that row, so the row lock orders them: none is overtaken by a rotation.
// - A token whose MAC does not verify, whose key id is not configured, or whose
//   shape is wrong is REFRESH_TOKEN_INVALID before any database access: nobody
//   without a configured key can name a session and revoke it.
// - A token with a valid MAC is one this service issued for that session and
//   generation (one token per generation: a rotation matches exactly one hash).
//   An earlier generation is reuse: the previous one within the grace window
//   gets the same successor; any other (or the previous after the window, or
//   once its successor was itself rotated) revokes the session.
// - The 256 random bits make the current token unguessable even to a holder of
//   the MAC key: only its hash is stored, and only it rotates.
// - Legacy `rt_` tokens (256 random bits, a refresh_tokens row each) issued
//   before this scheme still rotate once, into this format; their rows are kept
//   until they expire, so a retired one is still recognised as reuse.

const RANDOM_BYTES = 32
const TAG_BYTES = 16
const PAYLOAD_BYTES = 16 + 4 + RANDOM_BYTES + TAG_BYTES
const PREFIX = 'rt2'
const FORMAT = /^rt2\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{91})$/
const LEGACY_FORMAT = /^rt_[A-Za-z0-9_-]{43}$/
const MAC_INFO = 'weapp-auth/refresh-token-mac/v1'

export interface RefreshSecret {
  token: string
  hash: Buffer
}

/** A token this service issued: the session and generation it names, and its hash. */
export interface VerifiedToken extends RefreshSecret {
  sessionId: string
  generation: number
}

export function hashRefreshToken (token: string): Buffer {
  return createHash('sha256').update(token).digest()
}

export function isLegacyRefreshToken (token: string): boolean {
  return LEGACY_FORMAT.test(token)
}

const uuidBytes = (id: string): Buffer => Buffer.from(id.replace(/-/g, ''), 'hex')
const uuidText = (bytes: Buffer): string => {
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Issues and verifies refresh tokens under MAC keys derived from the vault keys (the first issues). */
export class RefreshTokens {
  private readonly macKeys: Map<string, Buffer>
  private readonly currentKeyId: string

  constructor (keys: VaultKey[]) {
    this.macKeys = new Map(keys.map((k) => [k.id, Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), MAC_INFO, 32))]))
    this.currentKeyId = keys[0]!.id
  }

  issue (sessionId: string, generation: number): RefreshSecret {
    const body = Buffer.alloc(16 + 4)
    uuidBytes(sessionId).copy(body, 0)
    body.writeUInt32BE(generation, 16)
    const unsigned = Buffer.concat([body, randomBytes(RANDOM_BYTES)])
    const payload = Buffer.concat([unsigned, this.mac(this.macKeys.get(this.currentKeyId)!, this.currentKeyId, unsigned)])
    const token = `${PREFIX}.${this.currentKeyId}.${payload.toString('base64url')}`
    return { token, hash: hashRefreshToken(token) }
  }

  /** The session and generation a token names, or undefined unless its MAC verifies under a configured key. */
  verify (token: string): VerifiedToken | undefined {
    const match = FORMAT.exec(token)
    if (match === null) return undefined
    const [, keyId, encoded] = match as unknown as [string, string, string]
    const key = this.macKeys.get(keyId)
    const payload = Buffer.from(encoded, 'base64url')
    // One encoding per payload: a variant spelling of a token would hash differently.
    if (key === undefined || payload.length !== PAYLOAD_BYTES || payload.toString('base64url') !== encoded) return undefined
    const unsigned = payload.subarray(0, PAYLOAD_BYTES - TAG_BYTES)
    if (!timingSafeEqual(this.mac(key, keyId, unsigned), payload.subarray(PAYLOAD_BYTES - TAG_BYTES))) return undefined
    return { token, hash: hashRefreshToken(token), sessionId: uuidText(unsigned.subarray(0, 16)), generation: unsigned.readUInt32BE(16) }
  }

  private mac (key: Buffer, keyId: string, unsigned: Buffer): Buffer {
    return createHmac('sha256', key).update(`${PREFIX}.${keyId}.`).update(unsigned).digest().subarray(0, TAG_BYTES)
  }
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
