import { generateKeyPairSync, randomBytes } from 'node:crypto'

// Fresh keys for each run: the bench's service is a throwaway.
export const ED25519_PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
export const VAULT_KEYS = `bench:${randomBytes(32).toString('base64')}`

/** The environment of the service a bench starts: production mode, its own database and data folder, WeChat at the fake. */
export function serviceEnv (
  app: { appid: string, secret: string }, databaseUrl: string, wechatUrl: string, dataDir: string
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    PORT: '0',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    WECHAT_APPID: app.appid,
    WECHAT_SECRET: app.secret,
    WECHAT_API_BASE: wechatUrl,
    JWT_PRIVATE_KEY: ED25519_PEM,
    SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS,
    // All load comes from one address and a few users: limits would measure themselves.
    RATE_LIMIT_GLOBAL_MAX: '100000000',
    RATE_LIMIT_AUTH_MAX: '100000000',
    RATE_LIMIT_USER_MAX: '100000000',
    MAX_CONNECTIONS_PER_IP: '100000000'
  }
}
