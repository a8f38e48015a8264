import { existsSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { loadJwtKeys, splitPemKeys, type JwtKeys } from './auth/jwt-keys.js'
import { parseVaultKeys, type VaultKey } from './users/session-key-vault.js'

const Duration = (defaultValue: string, description: string) =>
  Type.String({ pattern: '^[0-9]+[smhd]?$', default: defaultValue, description })

const EnvSchema = Type.Object({
  NODE_ENV: Type.Enum(['development', 'production', 'test'], { default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  TRUST_PROXY: Type.String({ pattern: '^(true|false|[0-9]+|[0-9a-fA-F.:/, ]+)$', default: 'false' }),
  REQUEST_ID_HEADER: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,64}$' })),
  CORS_ORIGINS: Type.Optional(Type.String({ minLength: 1 })),
  RATE_LIMIT_WINDOW: Duration('1m', 'the window every rate limit counts in'),
  RATE_LIMIT_GLOBAL_MAX: Type.Integer({ minimum: 1, default: 300 }),
  RATE_LIMIT_AUTH_MAX: Type.Integer({ minimum: 1, default: 20 }),
  RATE_LIMIT_USER_MAX: Type.Integer({ minimum: 1, default: 30 }),
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  DATA_DIR: Type.String({ minLength: 1, default: '.data' }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 64, default: 'weapp-auth:' }),
  WECHAT_APPID: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  WECHAT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  WECHAT_APPS: Type.Optional(Type.String({ minLength: 1 })),
  WECHAT_API_BASE: Type.String({ pattern: '^https?://', default: 'https://api.weixin.qq.com' }),
  WECHAT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60000, default: 5000 }),
  WECHAT_MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 4096, default: 256 }),
  WECHAT_MAX_PENDING: Type.Integer({ minimum: 1, maximum: 100000, default: 1024 }),
  JWT_PRIVATE_KEY: Type.Optional(Type.String({ minLength: 1 })),
  JWT_PUBLIC_KEYS: Type.Optional(Type.String({ minLength: 1 })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_ISSUER: Type.String({ minLength: 1, default: 'weapp-auth' }),
  JWT_AUDIENCE: Type.String({ minLength: 1, default: 'weapp' }),
  ACCESS_TOKEN_TTL: Duration('15m', 'lifetime of an access token'),
  REFRESH_TOKEN_TTL: Duration('30d', 'sliding lifetime of a refresh token'),
  SESSION_MAX_AGE: Duration('90d', 'absolute cap on a session, however often it refreshes'),
  REFRESH_REUSE_GRACE: Duration('10s', 'window in which a just-rotated refresh token may be used again'),
  SESSION_KEY_ENCRYPTION_KEYS: Type.Optional(Type.String({ minLength: 1 })),
  DECRYPT_MAX_AGE_SECONDS: Type.Optional(Type.Integer({ minimum: 1 })),
  SESSION_RETENTION: Duration('0', 'how long an ended session (and its tokens) is kept after none of its tokens can be presented'),
  AUDIT_RETENTION: Duration('180d', 'how long an audit event is kept'),
  PRUNE_INTERVAL: Duration('1h', 'how often the service prunes (0: never, leave it to npm run db:prune)'),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  METRICS_HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  MAX_CONNECTIONS: Type.Optional(Type.Integer({ minimum: 1 })),
  MAX_CONNECTIONS_PER_IP: Type.Integer({ minimum: 1, default: 64 })
})

type Env = Static<typeof EnvSchema>

export interface WechatApp {
  appid: string
  secret: string
}

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
    /** Absent: development mode against the bundled fake WeChat. */
    apps: WechatApp[]
  }
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

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

// Sane ranges in seconds: a typo such as SESSION_MAX_AGE=25000d must stop the
// start, not make every login fail later (Postgres intervals are built from int seconds).
const DURATION_BOUNDS = {
  RATE_LIMIT_WINDOW: [1, 86_400, '1s', '1d'],
  ACCESS_TOKEN_TTL: [10, 86_400, '10s', '1d'],
  REFRESH_TOKEN_TTL: [60, 365 * 86_400, '1m', '365d'],
  SESSION_MAX_AGE: [60, 3650 * 86_400, '1m', '3650d'],
  REFRESH_REUSE_GRACE: [0, 300, '0', '5m'],
  SESSION_RETENTION: [0, 3650 * 86_400, '0', '3650d'],
  AUDIT_RETENTION: [86_400, 3650 * 86_400, '1d', '3650d'],
  PRUNE_INTERVAL: [0, 86_400, '0', '1d']
} as const

export function parseDuration (text: string): number {
  const unit = /[smhd]$/.test(text) ? text.slice(-1) : 's'
  return Number.parseInt(text, 10) * UNIT_SECONDS[unit]!
}

function parseTrustProxy (text: string): false | number | string[] {
  if (text === 'false') return false
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10)
  return text.split(',').map((entry) => entry.trim()).filter(Boolean)
}

/** One line per variable; enum problems name the allowed values. */
function describeErrors (env: Env): string[] {
  const byName = new Map<string, string>()
  for (const error of Value.Errors(EnvSchema, env)) {
    const name = error.instancePath.replace(/^\//, '')
    if (byName.has(name)) continue
    const allowed = (EnvSchema.properties as Record<string, { enum?: string[] }>)[name]?.enum
    byName.set(name, `${name}: ${allowed === undefined ? error.message : `must be one of ${allowed.join(', ')}`}`)
  }
  return [...byName.values()]
}

function checkDatabaseUrl (url: string | undefined, problems: string[]): void {
  if (url === undefined) return
  let parsed: URL | undefined
  try { parsed = new URL(url) } catch { /* reported below */ }
  if (parsed === undefined || !['postgres:', 'postgresql:'].includes(parsed.protocol) || parsed.hostname === '') {
    problems.push('DATABASE_URL: must be a URL of the form postgresql://user:password@host:5432/database')
  }
}

interface ParsedKeys { jwt?: JwtKeys, vault?: VaultKey[] }

/** Parses the keys once: the result is what the service uses, each problem is reported. */
function parseKeys (env: Env, problems: string[]): ParsedKeys {
  const parsed: ParsedKeys = {}
  if (env.JWT_PUBLIC_KEYS !== undefined && splitPemKeys(env.JWT_PUBLIC_KEYS).length === 0) {
    problems.push('JWT_PUBLIC_KEYS: no PEM public key found')
  }
  if (env.JWT_SECRET !== undefined && env.JWT_PRIVATE_KEY === undefined) parsed.jwt = loadJwtKeys({ secret: env.JWT_SECRET })
  if (env.JWT_PRIVATE_KEY !== undefined && env.JWT_SECRET === undefined) {
    try {
      parsed.jwt = loadJwtKeys({ privateKey: env.JWT_PRIVATE_KEY, publicKeys: splitPemKeys(env.JWT_PUBLIC_KEYS ?? '') })
    } catch (error) {
      problems.push(`JWT_PRIVATE_KEY / JWT_PUBLIC_KEYS: ${(error as Error).message.replace(/^JWT_PUBLIC_KEYS: /, '')}`)
    }
  }
  if (env.SESSION_KEY_ENCRYPTION_KEYS !== undefined) {
    try {
      parsed.vault = parseVaultKeys(env.SESSION_KEY_ENCRYPTION_KEYS)
    } catch (error) {
      problems.push(`SESSION_KEY_ENCRYPTION_KEYS: ${(error as Error).message}`)
    }
  }
  return parsed
}

const AppList = Type.Array(Type.Object({
  appid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  secret: Type.String({ minLength: 1 })
}), { minItems: 1 })

/** WECHAT_APPS (JSON list) plus the WECHAT_APPID/WECHAT_SECRET pair; one entry per appid. */
function parseApps (env: Env, problems: string[]): WechatApp[] {
  const apps: WechatApp[] = []
  if (env.WECHAT_APPS !== undefined) {
    let list: unknown
    try { list = JSON.parse(env.WECHAT_APPS) } catch { list = undefined }
    if (Value.Check(AppList, list)) apps.push(...list.map(({ appid, secret }) => ({ appid, secret })))
    else problems.push('WECHAT_APPS: must be a JSON list like [{"appid":"wx...","secret":"..."}]')
  }
  if (env.WECHAT_APPID !== undefined && env.WECHAT_SECRET !== undefined) {
    const same = apps.find((app) => app.appid === env.WECHAT_APPID)
    if (same === undefined) apps.push({ appid: env.WECHAT_APPID, secret: env.WECHAT_SECRET })
    else if (same.secret !== env.WECHAT_SECRET) problems.push('WECHAT_APPID: also in WECHAT_APPS with another secret')
  }
  if (new Set(apps.map((app) => app.appid)).size !== apps.length) problems.push('WECHAT_APPS: an appid appears twice')
  return apps
}

/** The bytes of a hex or base64 (standard or url-safe) text, only when it is their canonical encoding. */
function decodeSecret (text: string): Buffer | undefined {
  if (/^([0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, 'hex')
  if (!/^([A-Za-z0-9+/]+|[A-Za-z0-9_-]+)={0,2}$/.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64')
  const unpadded = text.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')
  return bytes.toString('base64url') === unpadded ? bytes : undefined
}

/** How many different differences between neighbouring bytes. */
const steps = (bytes: Buffer): number => new Set(bytes.subarray(1).map((b, i) => (b - bytes[i]! + 256) % 256)).size

/**
 * What a generator (openssl rand -base64 32 / -hex 32) writes, not a phrase
 * someone typed: 32+ bytes behind the encoding, at least 16 different ones
 * (32 random bytes have about 30), and a text that mixes letters as a random
 * one does (base64: both cases; hex: letters and digits). A random secret
 * fails the text test with a chance below 1e-9. Nor is it a typed phrase put
 * through an encoder (every byte printable ASCII: 32 random bytes are, with a
 * chance near 1e-14) or a counting sequence (16+ different steps between
 * neighbouring bytes, as for the bytes themselves).
 */
export function isRandomSecret (text: string): boolean {
  const bytes = decodeSecret(text)
  if (bytes === undefined || bytes.length < 32 || new Set(bytes).size < 16) return false
  // A phrase merely encoded (echo ... | base64): random bytes are all printable with a chance below 1e-13.
  if (bytes.every((b) => b >= 0x20 && b < 0x7f)) return false
  // A counting sequence (0x00 0x01 0x02 ..., the base64 alphabet): its steps repeat; 31 random steps take ~29 values.
  if (steps(bytes) < 16 || steps(Buffer.from(text)) < 16) return false
  if (/^[0-9a-fA-F]+$/.test(text)) return /[0-9]/.test(text) && /[a-fA-F]/.test(text)
  return /[a-z]/.test(text) && /[A-Z]/.test(text)
}

function checkCrossField (env: Env, problems: string[]): void {
  checkDatabaseUrl(env.DATABASE_URL, problems)
  if ((env.WECHAT_APPID === undefined) !== (env.WECHAT_SECRET === undefined)) {
    problems.push('WECHAT_APPID and WECHAT_SECRET: set both or neither')
  }
  if (env.JWT_PRIVATE_KEY !== undefined && env.JWT_SECRET !== undefined) {
    problems.push('JWT_PRIVATE_KEY and JWT_SECRET: set one, not both (asymmetric or shared-secret signing)')
  }
  for (const [name, [min, max, minText, maxText]] of Object.entries(DURATION_BOUNDS)) {
    const text = env[name as keyof typeof DURATION_BOUNDS]
    if (!/^[0-9]+[smhd]?$/.test(text)) continue
    const seconds = parseDuration(text)
    if (seconds < min || seconds > max) problems.push(`${name}: must be between ${minText} and ${maxText}`)
  }
  if (env.WECHAT_MAX_PENDING < env.WECHAT_MAX_CONNECTIONS) problems.push('WECHAT_MAX_PENDING: must be at least WECHAT_MAX_CONNECTIONS')
  checkProxy(env, problems)
  if (problems.length === 0 && parseDuration(env.ACCESS_TOKEN_TTL) > parseDuration(env.SESSION_MAX_AGE)) {
    problems.push('ACCESS_TOKEN_TTL: must not be longer than SESSION_MAX_AGE (an access token would outlive its session)')
  }
  // A guessable HS256 secret signs tokens for anyone. Development takes 32 characters with some
  // variety (the tests' and examples' secrets); production only what a generator writes.
  if (env.JWT_SECRET !== undefined && env.JWT_SECRET.length >= 32) {
    if (env.NODE_ENV === 'production' && !isRandomSecret(env.JWT_SECRET)) {
      problems.push('JWT_SECRET: in production must be 32 or more random bytes, base64 or hex encoded: generate one with openssl rand -base64 32 (or better, sign with an Ed25519 JWT_PRIVATE_KEY)')
    } else if (new Set(env.JWT_SECRET).size < 10) problems.push('JWT_SECRET: must be random (at least 10 different characters); e.g. openssl rand -base64 32')
  }
  if (env.NODE_ENV !== 'production') return
  // The AppSecret, login codes and session_keys travel on this connection: TLS, unless it never leaves the machine.
  if (!/^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/.test(env.WECHAT_API_BASE)) {
    problems.push('WECHAT_API_BASE: must be https:// when NODE_ENV=production (plain http only to a loopback address)')
  }
  if (env.WECHAT_APPID === undefined && env.WECHAT_APPS === undefined) problems.push('WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS): required when NODE_ENV=production (the bundled fake WeChat is for development only)')
  if (env.JWT_PRIVATE_KEY === undefined && env.JWT_SECRET === undefined) problems.push('JWT_PRIVATE_KEY or JWT_SECRET: required when NODE_ENV=production')
  if (env.SESSION_KEY_ENCRYPTION_KEYS === undefined) problems.push('SESSION_KEY_ENCRYPTION_KEYS: required when NODE_ENV=production')
  if (env.DATABASE_URL === undefined) problems.push('DATABASE_URL: required when NODE_ENV=production (the embedded database is for development only)')
}

/** An address, or a network no wider than 10.0.0.0/8 (IPv4) or fc00::/7 (IPv6): 0.0.0.0/1 and 128.0.0.0/1 are `true` in two parts. */
function isProxyNetwork (entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/')
  const family = isIP(address!)
  if (family === 0 || rest.length > 0) return false
  if (bits === undefined) return true
  const [widest, narrowest] = family === 4 ? [8, 32] : [7, 128]
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) >= widest && Number(bits) <= narrowest
}

// Refused in every environment: a setting that means nothing safe anywhere should not work in development and fail in production.
function checkProxy (env: Env, problems: string[]): void {
  if (env.TRUST_PROXY === 'true') {
    problems.push('TRUST_PROXY: true lets every client choose its address (the left-most X-Forwarded-For entry); set a hop count (e.g. 1 behind one load balancer) or the proxies\' addresses or CIDRs (e.g. 10.0.0.0/8)')
  }
  if (!/^(true|false|[0-9]+)$/.test(env.TRUST_PROXY)) {
    const wrong = parseTrustProxy(env.TRUST_PROXY) as string[]
    if (wrong.some((entry) => !isProxyNetwork(entry))) {
      problems.push('TRUST_PROXY: each entry must be a proxy\'s address or network (an IPv4 CIDR of /8 or narrower, an IPv6 one of /7 or narrower): a wider range trusts any client to choose its address')
    }
  }
  if (env.REQUEST_ID_HEADER !== undefined && /^(false|0+)$/.test(env.TRUST_PROXY)) {
    problems.push('REQUEST_ID_HEADER: is read only from a trusted proxy; set TRUST_PROXY to a hop count or the proxies\' addresses')
  }
}

/** Validates the environment once; throws ConfigError listing every problem. Values are never echoed. */
export function parseConfig (source: Record<string, string | undefined>): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value.replace(/\\n/g, '\n')
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Env
  const problems = describeErrors(env)
  checkCrossField(env, problems)
  const keys = parseKeys(env, problems)
  const apps = parseApps(env, problems)
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
      apps
    },
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
