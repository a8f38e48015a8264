import { isIP } from 'node:net'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { privateDataDir } from '../data-dir.js'
import { ConfigError, runtimeConfig, type Config, type RuntimeConfig } from '../config/index.js'
import { parseJwtKeys, parseVaultKeys } from '../config/keys.js'
import { loadOrCreateDevKeys } from './dev-keys.js'
import { startFakePlatforms, type FakePlatformInfo } from './fake-platforms.js'
import type { Platform } from '../config/index.js'

export interface Development {
  config: RuntimeConfig
  close: () => Promise<void>
}

/** Where the bundled fake platforms advertise themselves and their apps, for `npm run demo`. */
export const fakePlatformsInfoFile = (dataDir: string): string => join(dataDir, 'fake-platforms.json')

/** What fakePlatformsInfoFile holds. */
export type FakePlatformsInfo = Record<Platform, FakePlatformInfo>

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))

/** What a development default would stand in for, as the settings that replace it. */
function defaultsNeeded (config: Config): string[] {
  const needed: string[] = []
  if (config.apps.length === 0) needed.push('WECHAT_APPID and WECHAT_SECRET, or APPS (else the bundled fake platforms mint a login for anyone)')
  if (config.jwt.keys === undefined) needed.push('JWT_PRIVATE_KEY or JWT_SECRET (else a development signing key)')
  if (config.vaultKeys === undefined) needed.push('SESSION_KEY_ENCRYPTION_KEYS (else a development encryption key)')
  if (config.databaseUrl === undefined) needed.push('DATABASE_URL (else the embedded database)')
  return needed
}

/**
 * Development defaults serve this machine only: on another HOST the start is
 * refused before anything is substituted, naming what to set.
 */
function refuseOffLoopback (config: Config): void {
  const needed = defaultsNeeded(config)
  if (needed.length === 0 || isLoopback(config.host)) return
  throw new ConfigError([
    ...needed.map((setting) => `${setting}: required when HOST is not a loopback address`),
    `HOST: ${config.host} is not a loopback address; set the above, or HOST=127.0.0.1 to keep the development defaults on this machine`
  ])
}

/**
 * Fills what a first run leaves unset, outside production only (server.ts
 * never loads this module in production): signing and encryption keys
 * generated under DATA_DIR, and when no app of any platform is configured the
 * bundled fake of every platform, one app each (the embedded database is
 * db/open.ts's). Each substitution is logged; off loopback none is made.
 */
export async function applyDevelopmentDefaults (config: Config, log: Logger): Promise<Development> {
  refuseOffLoopback(config)
  if (defaultsNeeded(config).length > 0) await privateDataDir(config.dataDir)
  const next: Config = { ...config, jwt: { ...config.jwt }, wechat: { ...config.wechat } }
  const closers: (() => Promise<void>)[] = []

  if (next.jwt.keys === undefined || next.vaultKeys === undefined) {
    const { keys, file, created } = await loadOrCreateDevKeys(next.dataDir)
    next.jwt.keys ??= parseJwtKeys({ privateKey: keys.jwtPrivateKey })
    next.vaultKeys ??= parseVaultKeys(keys.sessionKeyEncryptionKeys)
    log.warn(`development keys ${created ? 'generated in' : 'loaded from'} ${file} (set JWT_PRIVATE_KEY and SESSION_KEY_ENCRYPTION_KEYS for real deployments)`)
  }

  if (next.apps.length === 0) {
    const fakes = await startFakePlatforms()
    next.wechat = { ...next.wechat, ...fakes.wechat }
    next.apps = fakes.apps
    const infoFile = fakePlatformsInfoFile(next.dataDir)
    await writeFile(infoFile, JSON.stringify(fakes.info))
    closers.push(async () => { await rm(infoFile, { force: true }); await fakes.close() })
    const { wechat, ...others } = fakes.info
    log.warn(`no WECHAT_APPID set: logins go to the bundled fake WeChat at ${wechat.url} (appid ${wechat.appid}); development only`)
    log.warn(`no APPS set: logins go to the bundled fakes of ${Object.entries(others).map(([platform, { url, appid }]) => `${platform} at ${url} (appid ${appid})`).join(', ')}; development only`)
  }

  return { config: runtimeConfig(next), close: async () => { for (const close of closers) await close() } }
}
