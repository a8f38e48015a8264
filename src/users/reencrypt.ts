import type { PrismaClient } from '../generated/prisma/client.js'
import type { SessionKeyVault } from './session-key-vault.js'

export interface ReencryptResult {
  scanned: number
  reencrypted: number
  /** Rows whose ciphertext no configured key opens (ids only, never the data). */
  undecryptable: string[]
}

const BATCH = 500

const reseal = (vault: SessionKeyVault, sealed: string | null, rowId: string): string | null =>
  sealed === null ? null : vault.encrypt(vault.decrypt(sealed, rowId), rowId)

/**
 * Rewrites every session_key (and previous session_key) not under the current
 * key. Keyset-paginated; each row is updated only if it did not change since it
 * was read, so it is safe while the service runs. Run it after putting a new key
 * first in SESSION_KEY_ENCRYPTION_KEYS; drop the old key once it reports zero.
 */
export async function reencryptSessionKeys (
  prisma: PrismaClient, vault: SessionKeyVault, onBatch?: (scanned: number) => void
): Promise<ReencryptResult> {
  const result: ReencryptResult = { scanned: 0, reencrypted: 0, undecryptable: [] }
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const rows = await prisma.identity.findMany({
      where: { id: { gt: after } }, orderBy: { id: 'asc' }, take: BATCH, select: { id: true, sessionKey: true, previousSessionKey: true }
    })
    if (rows.length === 0) return result
    after = rows[rows.length - 1]!.id
    result.scanned += rows.length
    for (const row of rows) {
      // A platform without a session_key (Alipay) leaves both NULL: nothing to rewrite.
      const stale = [row.sessionKey, row.previousSessionKey].some((sealed) => sealed !== null && vault.isStale(sealed))
      if (!stale) continue
      let current: string | null
      let previous: string | null
      try {
        current = reseal(vault, row.sessionKey, row.id)
        previous = reseal(vault, row.previousSessionKey, row.id)
      } catch {
        result.undecryptable.push(row.id)
        continue
      }
      // Compare-and-swap: a login that rewrote the row meanwhile wins.
      const { count } = await prisma.identity.updateMany({
        where: { id: row.id, sessionKey: row.sessionKey, previousSessionKey: row.previousSessionKey },
        data: { sessionKey: current, previousSessionKey: previous }
      })
      result.reencrypted += count
    }
    onBatch?.(rows.length)
  }
}
