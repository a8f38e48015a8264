import type { App } from '../config/index.js'
import { AppRequired, AppUnknown, PlatformCodeAnonymous, PlatformCodeUsed, WechatCodeInvalid, WechatCodeUsed, WechatUserBlocked, type Subject } from '../errors.js'
import type { PlatformIdentity } from '../platforms/adapter.js'
import { isPlatformApp, type PlatformRegistry } from '../platforms/registry.js'
import type { AccessClaims, TokenLifetime } from '../sessions/claims.js'
import { assertUsable } from '../sessions/liveness.js'
import type { TokenGrant, SessionRepository } from '../sessions/repository.js'
import { SingleFlight } from '../single-flight.js'
import { LostInsertRace, type IdentityLogin, type LoginRecord, type UserRepository } from '../users/repository.js'
import type { WechatClient } from '../wechat/client.js'
import { WechatApiError } from '../wechat/errors.js'
import { wechatRefusal } from '../wechat/refusal.js'
import { codeRef, type CodeRef, type KeptLogin, type CodeClaims } from './code-claims.js'
import { PLATFORM_NAMES, platformLoginFailure } from './platform-failure.js'
import type { LoginResult, TokenPair } from './tokens.js'

export interface AuthServiceDeps {
  /** Every app of every platform (config.apps). */
  apps: App[]
  wechat: Pick<WechatClient, 'code2session'>
  /** The other platforms' adapters (src/platforms/registry.ts). */
  platforms: Pick<PlatformRegistry, 'exchange'>
  users: UserRepository
  sessions: SessionRepository
  codeClaims: CodeClaims
  signAccessToken: (claims: AccessClaims, lifetime: TokenLifetime) => string
  accessTtlSeconds: number
}

/** A route's answer, and who it was about (for the audit trail). */
export interface Granted<T> {
  result: T
  subject: Subject
}

/** What jscode2session's errcodes mean to a login; the rest are read as every service reads them. */
function loginFailure (error: unknown): unknown {
  if (error instanceof WechatApiError) {
    const context = { detail: { errcode: error.errcode } }
    if (error.errcode === 40029) return new WechatCodeInvalid(context)
    if (error.errcode === 40163) return new WechatCodeUsed(context)
    if (error.errcode === 40226) return new WechatUserBlocked(context)
  }
  return wechatRefusal(error)
}

export interface LoginOptions {
  /** The code is a Douyin anonymousCode: refused, whatever the app, before any call. */
  anonymous?: boolean
}

/** Login, refresh and logout: the app's platform first, then the database; nothing is written when the platform refuses. */
export class AuthService {
  private readonly apps: Map<string, App>
  /** What a body without appid means: the only app, else the only WeChat app (clients written before other platforms). */
  private readonly defaultApp?: App
  private readonly inFlight = new SingleFlight<Granted<LoginResult>>()

  constructor (private readonly deps: AuthServiceDeps) {
    this.apps = new Map(deps.apps.map((app) => [app.appid, app]))
    const wechat = deps.apps.filter((app) => app.platform === 'wechat')
    this.defaultApp = deps.apps.length === 1 ? deps.apps[0] : wechat.length === 1 ? wechat[0] : undefined
  }

  selectApp (appid: string | undefined): App {
    if (appid === undefined) {
      if (this.defaultApp === undefined) throw new AppRequired()
      return this.defaultApp
    }
    const app = this.apps.get(appid)
    if (app === undefined) throw new AppUnknown(appid)
    return app
  }

  /**
   * One code, one grant. Requests carrying the same code while its exchange is
   * in flight share it (in this process by a single flight, across instances by
   * a claim in the grant cache); a retry shortly after gets the same grant while
   * its session is live. A replay never opens a session or rewrites session_key.
   */
  async login (code: string, appid?: string, { anonymous = false }: LoginOptions = {}): Promise<Granted<LoginResult>> {
    const app = this.selectApp(appid)
    // An anonymous code names a device, not a user: no call, no grant, no row (Douyin's adapter refuses one too).
    if (anonymous) {
      throw new PlatformCodeAnonymous(PLATFORM_NAMES[app.platform], { detail: { platform: app.platform }, subject: { appid: app.appid } })
    }
    const ref = codeRef(app.appid, code)
    return this.inFlight.run(ref.id, () => this.loginOnce(app, code, ref))
  }

  private async loginOnce (app: App, code: string, ref: CodeRef): Promise<Granted<LoginResult>> {
    const { codeClaims } = this.deps
    const claim = await codeClaims.claimOrWait<LoginResult>(ref)
    if (!claim.claimed && claim.kept !== undefined) return this.replay(claim.kept, app)
    try {
      const { subject, subjectKind, unionid, sessionKey } = await this.exchange(app, code)
      // The unionid is scoped to app.platform here and in the repository: it never joins another platform's user.
      const record = await this.record({ platform: app.platform, appid: app.appid, subject, subjectKind, unionid, sessionKey })
      const result = { ...this.tokens({ ...record, appid: app.appid }), user: { id: record.userId, isNew: record.isNewUser } }
      await codeClaims.keep(ref, result, record.sessionId)
      return { result, subject: { userId: record.userId, sessionId: record.sessionId, appid: app.appid } }
    } catch (error) {
      if (claim.claimed) await codeClaims.release(ref)
      throw error
    }
  }

  /**
   * Who the platform's server says the code belongs to. WeChat through its
   * client and its own codes, as ever; every other platform through its
   * adapter, its failures read by platform-failure.ts.
   */
  private async exchange (app: App, code: string): Promise<PlatformIdentity> {
    if (isPlatformApp(app)) {
      return this.deps.platforms.exchange(app, code).catch((error: unknown) => { throw platformLoginFailure(app.platform, error) })
    }
    const { openid, unionid, sessionKey } = await this.deps.wechat.code2session(app, code).catch((error: unknown) => {
      throw loginFailure(error)
    })
    return { subject: openid, subjectKind: 'openid', unionid, sessionKey }
  }

  /** The grant this code already bought, while the window is open and its session live; else the code is spent. */
  private async replay (kept: KeptLogin<LoginResult>, app: App): Promise<Granted<LoginResult>> {
    const subject = { userId: kept.result.user.id, sessionId: kept.sessionId, appid: app.appid }
    const spent = () => app.platform === 'wechat' ? new WechatCodeUsed({ subject }) : new PlatformCodeUsed(PLATFORM_NAMES[app.platform], { subject })
    if (!this.deps.codeClaims.isOpen(kept)) throw spent()
    await this.deps.sessions.live(kept.sessionId).catch(() => { throw spent() })
    return { result: kept.result, subject }
  }

  /**
   * Two round trips: read the identity, then write identity, session and token
   * in one statement. A concurrent first login of the same person makes the
   * insert lose; it then reads again and takes the returning path.
   */
  private async record (login: IdentityLogin): Promise<LoginRecord> {
    const { users } = this.deps
    for (let attempt = 1; ; attempt++) {
      const identity = await users.findIdentity(login.platform, login.appid, login.subject)
      assertUsable(identity, { subject: { userId: identity?.user_id, appid: login.appid } })
      try {
        if (identity === undefined) return await users.recordFirstLogin(login)
        const record = await users.recordReturningLogin(identity, login)
        // The app was bound to the Open Platform after this identity's first login.
        if (login.unionid !== undefined && identity.unionid === null) {
          const link = await users.linkUnionid(identity.id, identity.user_id, login.platform, login.unionid)
          record.userId = link.userId
          // The link joined this identity, and the session just opened, to a banned user: the link ended them.
          assertUsable(link, { subject: { userId: record.userId, sessionId: record.sessionId, appid: login.appid }, revoked: 'user_disabled' })
        }
        return record
      } catch (error) {
        if (!(error instanceof LostInsertRace) || attempt >= 3) throw error
      }
    }
  }

  async refresh (refreshToken: string): Promise<Granted<TokenPair>> {
    const grant = await this.deps.sessions.rotate(refreshToken)
    return { result: this.tokens(grant), subject: { userId: grant.userId, sessionId: grant.sessionId, appid: grant.appid } }
  }

  async logout (sessionId: string): Promise<void> {
    await this.deps.sessions.end(sessionId, 'logout')
  }

  async logoutAll (sessionId: string): Promise<void> {
    await this.deps.sessions.endAllOf(sessionId, 'logout_all')
  }

  /** An access token lives ACCESS_TOKEN_TTL, never past its session's end: signature-only verifiers have only exp. */
  private tokens (grant: TokenGrant): TokenPair {
    const iat = Math.floor(Date.now() / 1000)
    const exp = Math.max(iat, Math.min(iat + this.deps.accessTtlSeconds, Math.floor(grant.sessionExpiresAt.getTime() / 1000)))
    return {
      accessToken: this.deps.signAccessToken({ sub: grant.userId, sid: grant.sessionId, appid: grant.appid }, { iat, exp }),
      tokenType: 'Bearer',
      expiresIn: exp - iat,
      refreshToken: grant.refreshToken,
      refreshExpiresIn: Math.max(0, Math.floor((grant.refreshExpiresAt.getTime() - Date.now()) / 1000))
    }
  }
}
