import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'

const Duration = (defaultValue: string, description: string) =>
  Type.String({ pattern: '^[0-9]+[smhd]?$', default: defaultValue, description })

export const EnvSchema = Type.Object({
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
  APPS: Type.Optional(Type.String({ minLength: 1 })),
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

export type Env = Static<typeof EnvSchema>

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

// JSON: its strings read `\n` themselves (a PEM's newlines); a real newline inside one would not parse.
const JSON_VALUED = new Set(['APPS'])

/**
 * The schema's variables of `source` (empty ones unset, `\n` read as a newline), defaults filled in;
 * `problems` gets what the schema refuses.
 */
export function readEnv (source: Record<string, string | undefined>, problems: string[]): Env {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = JSON_VALUED.has(key) ? value : value.replace(/\\n/g, '\n')
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw)) as Env
  problems.push(...describeErrors(env))
  return env
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

export function checkDurations (env: Env, problems: string[]): void {
  for (const [name, [min, max, minText, maxText]] of Object.entries(DURATION_BOUNDS)) {
    const text = env[name as keyof typeof DURATION_BOUNDS]
    if (!/^[0-9]+[smhd]?$/.test(text)) continue
    const seconds = parseDuration(text)
    if (seconds < min || seconds > max) problems.push(`${name}: must be between ${minText} and ${maxText}`)
  }
}
