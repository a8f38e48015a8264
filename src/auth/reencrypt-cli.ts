import { ConfigError, loadConfig } from '../config.js'
import { createPrisma } from '../db/prisma.js'
import { reencryptSessionKeys } from './reencrypt.js'
import { SessionKeyVault, parseVaultKeys } from './session-key-vault.js'

// `npm run keys:reencrypt`: moves every stored session_key to the first key of SESSION_KEY_ENCRYPTION_KEYS.
try {
  const config = loadConfig()
  if (config.databaseUrl === undefined || config.sessionKeyEncryptionKeys === undefined) {
    throw new Error('set DATABASE_URL and SESSION_KEY_ENCRYPTION_KEYS (new key first, old keys after it)')
  }
  const vault = new SessionKeyVault(parseVaultKeys(config.sessionKeyEncryptionKeys))
  const prisma = createPrisma({ url: config.databaseUrl, poolSize: 1 })
  const result = await reencryptSessionKeys(prisma, vault)
  await prisma.$disconnect()
  process.stdout.write(`weapp-auth: scanned ${result.scanned} identities, re-encrypted ${result.reencrypted} under key ${vault.currentKeyId}` +
    (result.undecryptable.length > 0 ? `; ${result.undecryptable.length} could not be decrypted with any configured key: ${result.undecryptable.join(', ')}` : '') + '\n')
  process.exitCode = result.undecryptable.length > 0 ? 2 : 0
} catch (error) {
  process.stderr.write(`weapp-auth: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`)
  process.exitCode = 1
}
