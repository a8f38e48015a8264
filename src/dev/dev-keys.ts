import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateDataDir } from '../data-dir.js'

export interface DevKeys {
  jwtPrivateKey: string
  sessionKeyEncryptionKeys: string
}

/**
 * Development keys, generated on the first start and reused after, so tokens
 * and stored session_keys survive a restart. Never used when NODE_ENV=production.
 */
export async function loadOrCreateDevKeys (dataDir: string): Promise<{ keys: DevKeys, file: string, created: boolean }> {
  const file = join(dataDir, 'dev-keys.json')
  await privateDataDir(dataDir)
  try {
    return { keys: JSON.parse(await readFile(file, 'utf8')) as DevKeys, file, created: false }
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error
  }
  const { privateKey } = generateKeyPairSync('ed25519')
  const keys: DevKeys = {
    jwtPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    sessionKeyEncryptionKeys: `dev1:${randomBytes(32).toString('base64')}`
  }
  await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600, flag: 'wx' })
  return { keys, file, created: true }
}
