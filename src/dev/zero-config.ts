import { randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { privateDataDir } from '../data-dir.js'
import { ConfigError, runtimeConfig, type Config, type RuntimeConfig } from '../config/index.js'
import { parseJwtKeys, parseVaultKeys } from '../config/keys.js'
import { loadOrCreateDevKeys } from './dev-keys.js'
import { FakeWechat } from './fake-wechat.js'

export const DEMO_APPID = 'wxdemo0000000000'

export interface Development {
  config: RuntimeConfig
  close: () => Promise<void>
}

/** Where the bundled fake WeChat advertises itself, for `npm run demo`. */
export const fakeWechatInfoFile = (dataDir: string): string => join(dataDir, 'fake-wechat.json')

const isLoopback = (host: string): boolean =>
  host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))

/** What a development default would stand in for, as the settings that replace it. */
function defaultsNeeded (config: Config): string[] {
  const needed: string[] = []
  if (config.wechat.apps.length === 0) needed.push('WECHAT_APPID and WECHAT_SECRET (else the bundled fake WeChat mints a login for anyone)')
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
 * generated under DATA_DIR, and the bundled fake WeChat when no AppID is
 * configured (the embedded database is db/open.ts's). Each substitution is
 * logged; off loopback none is made.
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

  if (next.wechat.apps.length === 0) {
    const app = { appid: DEMO_APPID, secret: randomBytes(16).toString('hex') }
    const fake = new FakeWechat([app])
    next.wechat.apiBase = await fake.listen()
    next.wechat.apps = [app]
    next.apps = [{ platform: 'wechat', ...app }, ...next.apps]
    const infoFile = fakeWechatInfoFile(next.dataDir)
    await writeFile(infoFile, JSON.stringify({ url: fake.url, appid: app.appid }))
    closers.push(async () => { await rm(infoFile, { force: true }); await fake.close() })
    log.warn(`no WECHAT_APPID set: logins go to the bundled fake WeChat at ${fake.url} (appid ${app.appid}); development only`)
  }

  return { config: runtimeConfig(next), close: async () => { for (const close of closers) await close() } }
}
