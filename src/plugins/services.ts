import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { CodeClaims, MemoryCodeClaimCache, RedisCodeClaimCache, type CodeClaimCache } from '../auth/code-claims.js'
import { AuthService } from '../auth/service.js'
import type { RuntimeConfig } from '../config/index.js'
import { Readiness } from '../db/readiness.js'
import { MAX_CLOCK_AHEAD_MS, Pruner, REST_RATIO } from '../maintenance/pruner.js'
import { PlatformRegistry } from '../platforms/registry.js'
import { RefreshTokens } from '../sessions/refresh-token.js'
import { SessionRepository } from '../sessions/repository.js'
import { UserRepository } from '../users/repository.js'
import { UserService } from '../users/service.js'
import { SessionKeyVault } from '../users/session-key-vault.js'
import { MemoryAppTokenCache, RedisAppTokenCache, type AppTokenCache } from '../wechat/app-token-cache.js'
import { WechatAppTokens } from '../wechat/app-token.js'
import { WechatClient } from '../wechat/client.js'
import { withFallback } from './redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    authService: AuthService
    userService: UserService
    readiness: Readiness
  }
}

export interface ServicesOptions {
  config: RuntimeConfig
  clock: () => number
}

// A retry of a login code gets the same grant for this long (then the code is spent).
const LOGIN_RETRY_WINDOW_MS = 10_000

/** The business services, wired once from the runtime configuration; routes only call them. */
export default fp(async function services (app: FastifyInstance, { config, clock }: ServicesOptions) {
  const { apiBase, timeoutMs, maxConnections, maxPending, apps } = config.wechat
  const wechat = new WechatClient({ apiBase, timeoutMs, maxConnections, maxPending, observe: app.metrics.wechatCall })
  app.addHook('onClose', async () => { await wechat.close() })
  // Every other platform's adapter on a transport of its own, bounded as WeChat's is.
  const platforms = new PlatformRegistry(config.apps, { timeoutMs, maxConnections, maxPending, observe: app.metrics.platformCall })
  app.addHook('onClose', async () => { await platforms.close() })

  // State several instances share lives in Redis while it answers, in this process while it does not.
  const shared = <T extends object>(redis: (client: NonNullable<FastifyInstance['redis']>) => T, local: T): T =>
    app.redis === undefined ? local : withFallback(redis(app.redis), local, app.redisHealth)
  const vault = new SessionKeyVault(config.vaultKeys)
  const sessions = new SessionRepository(app.db, config.jwt, new RefreshTokens(config.vaultKeys))
  const users = new UserRepository(app.db, vault, sessions)
  const appTokens = new WechatAppTokens(
    wechat, shared<AppTokenCache>((redis) => new RedisAppTokenCache(redis, config.redisPrefix), new MemoryAppTokenCache())
  )
  const codeClaimCache = shared<CodeClaimCache>(
    (redis) => new RedisCodeClaimCache(redis, config.redisPrefix), new MemoryCodeClaimCache(clock)
  )

  app.decorate('readiness', new Readiness(app.db, app.log, clock))
  const { sessionSeconds, auditSeconds, pruneIntervalSeconds } = config.retention
  if (pruneIntervalSeconds > 0) {
    // One instance of many prunes at a time (an advisory lock); the others skip the pass.
    const policy = { sessionRetentionSeconds: sessionSeconds, auditRetentionSeconds: auditSeconds }
    const stop = new Pruner(app.db, policy, clock, REST_RATIO, MAX_CLOCK_AHEAD_MS).schedule(pruneIntervalSeconds * 1000, app.log)
    app.addHook('onClose', async () => { stop() })
  }
  // The user-data routes use the adapters' crypto; a session is only ever of an app the registry has an adapter for.
  const adapters = {
    get qq () { return platforms.adapter('qq') },
    get douyin () { return platforms.adapter('douyin') },
    get kuaishou () { return platforms.adapter('kuaishou') },
    get baidu () { return platforms.adapter('baidu') },
    get alipay () { return platforms.adapter('alipay') }
  }
  app.decorate('userService', new UserService({
    apps,
    platformApps: config.apps,
    adapters,
    users,
    sessions,
    vault,
    wechat,
    appTokens,
    spentPayloads: codeClaimCache,
    maxAgeSeconds: config.decryptMaxAgeSeconds,
    now: clock
  }))
  app.decorate('authService', new AuthService({
    apps: config.apps,
    wechat,
    platforms,
    users,
    sessions,
    // An exchange may queue for a connection and then spend its deadline on the wire, then write.
    codeClaims: new CodeClaims(codeClaimCache, { now: clock, windowMs: LOGIN_RETRY_WINDOW_MS, inFlightMs: 2 * timeoutMs + 5_000 },
      app.redis === undefined ? undefined : new MemoryCodeClaimCache(clock)),
    signAccessToken: app.signAccessToken,
    accessTtlSeconds: config.jwt.accessTtlSeconds
  }))
}, { name: 'services', dependencies: ['database', 'auth', 'redis', 'metrics'] })
