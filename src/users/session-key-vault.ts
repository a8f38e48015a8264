import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

// session_key at rest: AES-256-GCM, a fresh 96-bit nonce per write, the key id
// in the ciphertext so keys can rotate, and the identity row's id as associated
// data so a ciphertext copied onto another row does not decrypt.
//   format: v1.<key id>.<base64url(nonce | ciphertext | tag)>

const VERSION = 'v1'
const NONCE_BYTES = 12
const TAG_BYTES = 16
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
    const nonce = randomBytes(NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.byId.get(this.currentKeyId)!, nonce)
    cipher.setAAD(Buffer.from(identityId))
    const sealed = Buffer.concat([nonce, cipher.update(sessionKey, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return `${VERSION}.${this.currentKeyId}.${sealed.toString('base64url')}`
  }

  decrypt (stored: string, identityId: string): string {
    const [version, keyId, payload, extra] = stored.split('.')
    const key = keyId === undefined ? undefined : this.byId.get(keyId)
    if (version !== VERSION || payload === undefined || extra !== undefined) throw new SessionKeyUndecryptable('not a session_key ciphertext')
    if (key === undefined) throw new SessionKeyUndecryptable(`encrypted under key ${keyId}, which is not configured`)
    const sealed = Buffer.from(payload, 'base64url')
    if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new SessionKeyUndecryptable('ciphertext too short')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE_BYTES))
      decipher.setAAD(Buffer.from(identityId))
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      throw new SessionKeyUndecryptable('authentication failed: wrong key, or not this row\'s ciphertext')
    }
  }

  /** True when the ciphertext is not under the current key (a rotation is pending for it). */
  isStale (stored: string): boolean {
    return stored.split('.')[1] !== this.currentKeyId
  }
}
