import { createHash } from 'node:crypto'
import { open, seal } from '../sealing.js'

// session_key at rest: AES-256-GCM, a fresh 96-bit nonce per write, the key id
// in the ciphertext so keys can rotate, and the identity row's id as associated
// data so a ciphertext copied onto another row does not decrypt.
//   format: v1.<key id>.<base64url(nonce | ciphertext | tag)>

const VERSION = 'v1'
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

export interface VaultKey {
  id: string
  key: Buffer
}

export class SessionKeyUndecryptable extends Error {
  override name = 'SessionKeyUndecryptable'
}

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

export class SessionKeyVault {
  private readonly byId: Map<string, Buffer>
  readonly currentKeyId: string

  constructor (keys: VaultKey[]) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]))
    this.currentKeyId = keys[0]!.id
  }

  encrypt (sessionKey: string, identityId: string): string {
    return `${VERSION}.${this.currentKeyId}.${seal(this.byId.get(this.currentKeyId)!, sessionKey, identityId)}`
  }

  decrypt (stored: string, identityId: string): string {
    const [version, keyId, payload, extra] = stored.split('.')
    const key = keyId === undefined ? undefined : this.byId.get(keyId)
    if (version !== VERSION || payload === undefined || extra !== undefined) throw new SessionKeyUndecryptable('not a session_key ciphertext')
    if (key === undefined) throw new SessionKeyUndecryptable(`encrypted under key ${keyId}, which is not configured`)
    const plaintext = open(key, payload, identityId)
    if (plaintext === undefined) throw new SessionKeyUndecryptable('authentication failed: wrong key, or not this row\'s ciphertext')
    return plaintext
  }

  /** True when the ciphertext is not under the current key (a rotation is pending for it). */
  isStale (stored: string): boolean {
    return stored.split('.')[1] !== this.currentKeyId
  }
}
