import type { VaultKey } from '../config/keys.js'
import { open, seal } from '../sealing.js'

// session_key at rest: AES-256-GCM, a fresh 96-bit nonce per write, the key id
// in the ciphertext so keys can rotate, and the identity row's id as associated
// data so a ciphertext copied onto another row does not decrypt.
//   format: v1.<key id>.<base64url(nonce | ciphertext | tag)>

const VERSION = 'v1'

export class SessionKeyUndecryptable extends Error {
  override name = 'SessionKeyUndecryptable'
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
