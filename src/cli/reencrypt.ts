import { loadConfig } from '../config/index.js'
import { openDatabase } from '../db/database.js'
import { reencryptSessionKeys } from '../users/reencrypt.js'
import { SessionKeyVault } from '../users/session-key-vault.js'
import { Progress } from './progress.js'
import { runCli } from './run.js'

// `npm run keys:reencrypt`: moves every stored session_key to the first key of SESSION_KEY_ENCRYPTION_KEYS.
runCli('', async () => {
  const config = loadConfig()
  if (config.databaseUrl === undefined || config.vaultKeys === undefined) {
    throw new Error('set DATABASE_URL and SESSION_KEY_ENCRYPTION_KEYS (new key first, old keys after it)')
  }
  const vault = new SessionKeyVault(config.vaultKeys)
  const db = openDatabase({ url: config.databaseUrl, poolSize: 1 })
  try {
    const progress = new Progress('identities checked', await db.prisma.identity.count())
    const result = await reencryptSessionKeys(db.prisma, vault, (n) => { progress.add(n) })
    progress.finish()
    process.stdout.write(`weapp-auth: scanned ${result.scanned} identities, re-encrypted ${result.reencrypted} under key ${vault.currentKeyId}` +
      (result.undecryptable.length > 0 ? `; ${result.undecryptable.length} could not be decrypted with any configured key: ${result.undecryptable.join(', ')}` : '') + '\n')
    return result.undecryptable.length > 0 ? 2 : 0
  } finally {
    await db.close()
  }
})
