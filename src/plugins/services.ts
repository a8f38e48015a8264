import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { LoginWrites } from '../auth/login-writes.js'
import { AuthService } from '../auth/service.js'
import { SessionKeyVault, parseVaultKeys } from '../auth/session-key-vault.js'
import { SessionStore } from '../auth/sessions.js'
import type { Config } from '../config.js'
import { IdentityRepository } from '../users/identities.js'
import { UserDataService } from '../users/user-data.js'
import { AccessTokens } from '../wechat/access-token.js'
import { WechatClient } from '../wechat/client.js'
import { FallbackTokenStore, MemoryTokenStore, RedisTokenStore } from '../wechat/token-store.js'

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
}

/** The business services, wired once from config; routes only call them. */
export default fp(async function services (app: FastifyInstance, { config, wechat: injected }: ServicesOptions) {
  if (config.sessionKeyEncryptionKeys === undefined) throw new Error('SESSION_KEY_ENCRYPTION_KEYS missing (server.ts fills in development keys)')
  const wechat = injected ?? new WechatClient({ apiBase: config.wechat.apiBase, timeoutMs: config.wechat.timeoutMs })
  if (injected === undefined) app.addHook('onClose', async () => { await wechat.close() })

  const vault = new SessionKeyVault(parseVaultKeys(config.sessionKeyEncryptionKeys))
  const sessions = new SessionStore(app.prisma, config.jwt)
  const identities = new IdentityRepository(app.prisma)
  const tokenStore = app.redis === undefined
    ? new MemoryTokenStore()
    : new FallbackTokenStore(new RedisTokenStore(app.redis, config.redisPrefix))
  const accessTokens = new AccessTokens(wechat, tokenStore, config.wechat.apps)
  app.decorate('vault', vault)
  app.decorate('sessions', sessions)
  app.decorate('accessTokens', accessTokens)
  app.decorate('userData', new UserDataService({ db: app.prisma, vault, identities, wechat, accessTokens, maxAgeSeconds: config.decryptMaxAgeSeconds }))
  app.decorate('authService', new AuthService({
    apps: config.wechat.apps,
    wechat,
    identities,
    loginWrites: new LoginWrites(app.prisma, vault, config.jwt),
    sessions,
    signAccessToken: app.signAccessToken,
    accessTtlSeconds: config.jwt.accessTtlSeconds
  }))
}, { name: 'services', dependencies: ['prisma', 'auth', 'redis'] })
