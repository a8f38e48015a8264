import type { PrismaClient } from '../generated/prisma/client.js'
import type { SessionKeyVault } from './session-key-vault.js'

export interface ReencryptResult {
  scanned: number
  reencrypted: number
  /** Rows whose ciphertext no configured key opens (ids only, never the data). */
  undecryptable: string[]
}

const BATCH = 500

/**
 * Rewrites every session_key (and previous session_key) not under the current
 * key. Keyset-paginated; each row is updated only if it did not change since it
 * was read, so it is safe while the service runs. Run it after putting a new key
 * first in SESSION_KEY_ENCRYPTION_KEYS; drop the old key once it reports zero.
 */
export async function reencryptSessionKeys (prisma: PrismaClient, vault: SessionKeyVault, onBatch?: (scanned: number) => void): Promise<ReencryptResult> {
  const result: ReencryptResult = { scanned: 0, reencrypted: 0, undecryptable: [] }
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const rows = await prisma.wechatIdentity.findMany({
      where: { id: { gt: after } }, orderBy: { id: 'asc' }, take: BATCH, select: { id: true, sessionKey: true, previousSessionKey: true }
    })
    if (rows.length === 0) return result
    after = rows[rows.length - 1]!.id
    result.scanned += rows.length
    for (const row of rows) {
      const stale = vault.isStale(row.sessionKey) || (row.previousSessionKey !== null && vault.isStale(row.previousSessionKey))
      if (!stale) continue
      let current: string
      let previous: string | null
      try {
        current = vault.encrypt(vault.decrypt(row.sessionKey, row.id), row.id)
        previous = row.previousSessionKey === null ? null : vault.encrypt(vault.decrypt(row.previousSessionKey, row.id), row.id)
      } catch {
        result.undecryptable.push(row.id)
        continue
      }
      // Compare-and-swap: a login that rewrote the row meanwhile wins.
      const { count } = await prisma.wechatIdentity.updateMany({
        where: { id: row.id, sessionKey: row.sessionKey, previousSessionKey: row.previousSessionKey },
        data: { sessionKey: current, previousSessionKey: previous }
      })
      result.reencrypted += count
    }
    onBatch?.(rows.length)
  }
}
