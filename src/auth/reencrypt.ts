import type { Db } from '../db/prisma.js'
import type { SessionKeyVault } from './session-key-vault.js'

export interface ReencryptResult {
  scanned: number
  reencrypted: number
  /** Rows whose ciphertext no configured key opens (ids only, never the data). */
  undecryptable: string[]
}

interface Row {
  id: string
  session_key_enc: string
  previous_session_key_enc: string | null
}

const BATCH = 500

/**
 * Rewrites every session_key (and previous session_key) not under the current
 * key. Keyset-paginated; each row is updated only if it did not change since it
 * was read, so it is safe while the service runs. Run it after putting a new key
 * first in SESSION_KEY_ENCRYPTION_KEYS; drop the old key once it reports zero.
 */
export async function reencryptSessionKeys (db: Db, vault: SessionKeyVault): Promise<ReencryptResult> {
  const result: ReencryptResult = { scanned: 0, reencrypted: 0, undecryptable: [] }
  let after = '00000000-0000-0000-0000-000000000000'
  for (;;) {
    const rows = await db.$queryRaw<Row[]>`
      SELECT id::text, session_key_enc, previous_session_key_enc FROM wechat_identities
      WHERE id > ${after}::uuid ORDER BY id LIMIT ${BATCH}`
    if (rows.length === 0) return result
    after = rows[rows.length - 1]!.id
    result.scanned += rows.length
    for (const row of rows) {
      const stale = vault.isStale(row.session_key_enc) || (row.previous_session_key_enc !== null && vault.isStale(row.previous_session_key_enc))
      if (!stale) continue
      let current: string
      let previous: string | null
      try {
        current = vault.encrypt(vault.decrypt(row.session_key_enc, row.id), row.id)
        previous = row.previous_session_key_enc === null ? null : vault.encrypt(vault.decrypt(row.previous_session_key_enc, row.id), row.id)
      } catch {
        result.undecryptable.push(row.id)
        continue
      }
      result.reencrypted += await db.$executeRaw`
        UPDATE wechat_identities SET session_key_enc = ${current}, previous_session_key_enc = ${previous}
        WHERE id = ${row.id}::uuid AND session_key_enc = ${row.session_key_enc}
          AND previous_session_key_enc IS NOT DISTINCT FROM ${row.previous_session_key_enc}`
    }
  }
}
