import { generateKeyPairSync, randomBytes } from 'node:crypto'

// Fresh keys for each run: the bench's service is a throwaway.
export const ED25519_PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
export const VAULT_KEYS = `bench:${randomBytes(32).toString('base64')}`
