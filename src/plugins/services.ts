import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { LoginGrants, MemoryGrantStore, RedisGrantStore, type GrantStore } from '../auth/login-grants.js'
import { LoginWrites } from '../auth/login-writes.js'
import { AuthService } from '../auth/service.js'
import { SessionKeyVault, parseVaultKeys } from '../auth/session-key-vault.js'
import { SessionStore } from '../auth/sessions.js'
import type { Config } from '../config.js'
import { IdentityRepository } from '../users/identities.js'
import { UserDataService } from '../users/user-data.js'
import { AccessTokens } from '../wechat/access-token.js'
import { WechatClient } from '../wechat/client.js'
import { MemoryTokenStore, RedisTokenStore, type TokenStore } from '../wechat/token-store.js'
import { withFallback } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    authService: AuthService
    sessions: SessionStore
    vault: SessionKeyVault
    userData: UserDataService
    accessTokens: AccessTokens
  }
}

export interface ServicesOptions {
  config: Config
  /** Injected by tests; otherwise built from config and closed with the app. */
  wechat?: WechatClient
  clock: () => number
}

// A retry of a login code gets the same grant for this long (then the code is spent).
const LOGIN_RETRY_WINDOW_MS = 10_000

/** The business services, wired once from config; routes only call them. */
export default fp(async function services (app: FastifyInstance, { config, wechat: injected, clock }: ServicesOptions) {
  if (config.sessionKeyEncryptionKeys === undefined) throw new Error('SESSION_KEY_ENCRYPTION_KEYS missing (server.ts fills in development keys)')
  const { apiBase, timeoutMs, maxConnections, maxPending } = config.wechat
  const wechat = injected ?? new WechatClient({ apiBase, timeoutMs, maxConnections, maxPending })
  if (injected === undefined) app.addHook('onClose', async () => { await wechat.close() })

  const shared = <T extends object>(redis: (client: NonNullable<FastifyInstance['redis']>) => T, local: T): T =>
    app.redis === undefined ? local : withFallback(redis(app.redis), local, app.redisHealth)
  const vault = new SessionKeyVault(parseVaultKeys(config.sessionKeyEncryptionKeys))
  const sessions = new SessionStore(app.prisma, config.jwt)
  const identities = new IdentityRepository(app.prisma)
  const tokenStore = shared<TokenStore>((redis) => new RedisTokenStore(redis, config.redisPrefix), new MemoryTokenStore())
  const grantStore = shared<GrantStore>((redis) => new RedisGrantStore(redis, config.redisPrefix), new MemoryGrantStore(clock))
  const accessTokens = new AccessTokens(wechat, tokenStore, config.wechat.apps)
  app.decorate('vault', vault)
  app.decorate('sessions', sessions)
  app.decorate('accessTokens', accessTokens)
  app.decorate('userData', new UserDataService({ db: app.prisma, vault, sessions, wechat, accessTokens, maxAgeSeconds: config.decryptMaxAgeSeconds, now: clock }))
  app.decorate('authService', new AuthService({
    apps: config.wechat.apps,
    wechat,
    identities,
    loginWrites: new LoginWrites(app.prisma, vault, config.jwt),
    sessions,
    // An exchange may queue for a connection and then spend its deadline on the wire, then write.
    grants: new LoginGrants(grantStore, { now: clock, windowMs: LOGIN_RETRY_WINDOW_MS, inFlightMs: 2 * timeoutMs + 5_000 }),
    signAccessToken: app.signAccessToken,
    accessTtlSeconds: config.jwt.accessTtlSeconds
  }))
}, { name: 'services', dependencies: ['prisma', 'auth', 'redis'] })
