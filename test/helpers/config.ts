import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { build, type BuildOptions, type Built } from '../helper.js'

/** A complete production environment: every required setting given, with fresh keys. */
export const productionEnv = (): Record<string, string> => ({
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://u:p@db:5432/x',
  WECHAT_APPID: 'wx1',
  WECHAT_SECRET: 's',
  JWT_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  SESSION_KEY_ENCRYPTION_KEYS: randomBytes(32).toString('base64')
})

/** The problems parseConfig reports for an environment; none when it is accepted. */
export function problemsOf (env: Record<string, string>): string[] {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

/** The app built with `options`, or undefined where the start refuses its configuration. */
export async function buildUnlessRefused (t: Test, options: BuildOptions): Promise<Built | undefined> {
  try {
    return await build(t, options)
  } catch (error) {
    if (error instanceof ConfigError) return undefined
    throw error
  }
}
