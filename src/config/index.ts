import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { checkWechatPair, checkWechatProduction, readApps, readWechatApps, wechatAppsOf, type App, type WechatApp } from './apps.js'
import { checkDurations, parseDuration, readEnv, type Env } from './env.js'
import { checkJwtSecret } from './jwt-secret.js'
import { checkJwtPair, checkKeysGiven, readKeys, type JwtKeys, type VaultKey } from './keys.js'
import { checkProxy, parseTrustProxy } from './proxy.js'

export type { AlipayApp, App, BaiduApp, DouyinApp, Platform, SecretApp, WechatApp } from './apps.js'
export type { Jwk, JwtKeys, VaultKey } from './keys.js'
export { parseDuration } from './env.js'

export interface RateLimits {
  timeWindowMs: number
  /** Every route, per client IP. */
  globalMax: number
  /** login and refresh, per client IP. */
  authMax: number
  /** decrypt, verify and phone, per user. */
  userMax: number
}

export interface Config {
  env: Env['NODE_ENV']
  host: string
  port: number
  logLevel: string
  /** Fastify's trustProxy: false, a hop count, or addresses/CIDRs of the proxies (never true: every client would choose its address). */
  trustProxy: false | number | string[]
  /** The header (lower-case) a trusted proxy sets to the request id; absent: the service makes every id. */
  requestIdHeader?: string
  /** Browser origins allowed by CORS; none (CORS off) when empty. */
  corsOrigins: string[]
  rateLimits: RateLimits
  /** Absent: the server starts an embedded database under dataDir. */
  databaseUrl?: string
  databasePoolSize: number
  dataDir: string
  redisUrl?: string
  /** Namespace of every key this service writes in Redis. */
  redisPrefix: string
  wechat: {
    apiBase: string
    timeoutMs: number
    maxConnections: number
    maxPending: number
    /** WECHAT_APPID/WECHAT_SECRET, WECHAT_APPS and the wechat entries of APPS; empty: development mode against the bundled fake WeChat. */
    apps: WechatApp[]
  }
  /** Every app of every platform: the WeChat ones above, then APPS; one appid each. */
  apps: App[]
  jwt: {
    /** Parsed from JWT_PRIVATE_KEY (+ JWT_PUBLIC_KEYS) or JWT_SECRET; absent outside production when neither is set. */
    keys?: JwtKeys
    issuer: string
    audience: string
    accessTtlSeconds: number
    refreshTtlSeconds: number
    sessionMaxAgeSeconds: number
    reuseGraceSeconds: number
  }
  /** Parsed from SESSION_KEY_ENCRYPTION_KEYS, current first; absent outside production when unset. */
  vaultKeys?: VaultKey[]
  /** Refuse decrypted data whose watermark is older; off when absent. */
  decryptMaxAgeSeconds?: number
  retention: {
    sessionSeconds: number
    auditSeconds: number
    /** 0: the service never prunes by itself. */
    pruneIntervalSeconds: number
  }
  /** Prometheus at GET /metrics on host:port; off when port is absent. */
  metrics: { port?: number, host: string }
  /** Open client connections: overall (absent: what the descriptor limit leaves), and per client address. */
  connections: { max?: number, perIp: number }
}

/** What the service runs with: every key parsed and present (development defaults filled in, see dev/zero-config.ts). */
export interface RuntimeConfig extends Omit<Config, 'jwt' | 'vaultKeys'> {
  jwt: Config['jwt'] & { keys: JwtKeys }
  vaultKeys: VaultKey[]
}

/** A configuration whose keys are all present, as production requires and development defaults provide. */
export function runtimeConfig (config: Config): RuntimeConfig {
  const { keys } = config.jwt
  if (keys === undefined || config.vaultKeys === undefined) throw new ConfigError(['JWT_PRIVATE_KEY or JWT_SECRET, and SESSION_KEY_ENCRYPTION_KEYS: required'])
  return { ...config, jwt: { ...config.jwt, keys }, vaultKeys: config.vaultKeys }
}

export class ConfigError extends Error {
  constructor (readonly problems: string[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
      problems.map((p) => `  - ${p}`).join('\n'))
    this.name = 'ConfigError'
  }
}

function checkDatabaseUrl (url: string | undefined, problems: string[]): void {
  if (url === undefined) return
  let parsed: URL | undefined
  try { parsed = new URL(url) } catch { /* reported below */ }
  if (parsed === undefined || !['postgres:', 'postgresql:'].includes(parsed.protocol) || parsed.hostname === '') {
    problems.push('DATABASE_URL: must be a URL of the form postgresql://user:password@host:5432/database')
  }
}

function checkCrossField (env: Env, problems: string[]): void {
  checkDatabaseUrl(env.DATABASE_URL, problems)
  checkWechatPair(env, problems)
  checkJwtPair(env, problems)
  checkDurations(env, problems)
  if (env.WECHAT_MAX_PENDING < env.WECHAT_MAX_CONNECTIONS) problems.push('WECHAT_MAX_PENDING: must be at least WECHAT_MAX_CONNECTIONS')
  checkProxy(env, problems)
  if (problems.length === 0 && parseDuration(env.ACCESS_TOKEN_TTL) > parseDuration(env.SESSION_MAX_AGE)) {
    problems.push('ACCESS_TOKEN_TTL: must not be longer than SESSION_MAX_AGE (an access token would outlive its session)')
  }
  checkJwtSecret(env, problems)
  if (env.NODE_ENV !== 'production') return
  checkWechatProduction(env, problems)
  checkKeysGiven(env, problems)
  if (env.DATABASE_URL === undefined) problems.push('DATABASE_URL: required when NODE_ENV=production (the embedded database is for development only)')
}

/** Validates the environment once; throws ConfigError listing every problem. Values are never echoed. */
export function parseConfig (source: Record<string, string | undefined>): Config {
  const problems: string[] = []
  const env = readEnv(source, problems)
  checkCrossField(env, problems)
  const keys = readKeys(env, problems)
  const apps = readApps(env, readWechatApps(env, problems), problems)
  if (problems.length > 0) throw new ConfigError(problems)

  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    requestIdHeader: env.REQUEST_ID_HEADER?.toLowerCase(),
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    rateLimits: {
      timeWindowMs: parseDuration(env.RATE_LIMIT_WINDOW) * 1000,
      globalMax: env.RATE_LIMIT_GLOBAL_MAX,
      authMax: env.RATE_LIMIT_AUTH_MAX,
      userMax: env.RATE_LIMIT_USER_MAX
    },
    databaseUrl: env.DATABASE_URL,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    dataDir: resolve(env.DATA_DIR),
    redisUrl: env.REDIS_URL,
    redisPrefix: env.REDIS_PREFIX,
    wechat: {
      apiBase: env.WECHAT_API_BASE.replace(/\/+$/, ''),
      timeoutMs: env.WECHAT_TIMEOUT_MS,
      maxConnections: env.WECHAT_MAX_CONNECTIONS,
      maxPending: env.WECHAT_MAX_PENDING,
      apps: wechatAppsOf(apps)
    },
    apps,
    jwt: {
      keys: keys.jwt,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTtlSeconds: parseDuration(env.ACCESS_TOKEN_TTL),
      refreshTtlSeconds: parseDuration(env.REFRESH_TOKEN_TTL),
      sessionMaxAgeSeconds: parseDuration(env.SESSION_MAX_AGE),
      reuseGraceSeconds: parseDuration(env.REFRESH_REUSE_GRACE)
    },
    vaultKeys: keys.vault,
    decryptMaxAgeSeconds: env.DECRYPT_MAX_AGE_SECONDS,
    retention: {
      sessionSeconds: parseDuration(env.SESSION_RETENTION),
      auditSeconds: parseDuration(env.AUDIT_RETENTION),
      pruneIntervalSeconds: parseDuration(env.PRUNE_INTERVAL)
    },
    metrics: { port: env.METRICS_PORT, host: env.METRICS_HOST },
    connections: { max: env.MAX_CONNECTIONS, perIp: env.MAX_CONNECTIONS_PER_IP }
  }
}

/** Reads `.env` (when present, without overriding the real environment) and parses. */
export function loadConfig (envFile = '.env'): Config {
  if (existsSync(envFile)) process.loadEnvFile(envFile)
  return parseConfig(process.env)
}
