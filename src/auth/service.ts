import { createHash } from 'node:crypto'
import type { WechatApp } from '../config.js'
import type { IdentityRepository, WechatLogin } from '../users/identities.js'
import type { Code2Session, WechatClient } from '../wechat/client.js'
import { SingleFlight } from '../wechat/single-flight.js'
import { AppRequired, AppUnknown } from './errors.js'
import { LostInsertRace, type LoginGrant, type LoginWrites } from './login-writes.js'
import type { SessionGrant, SessionStore } from './sessions.js'

export interface AccessClaims {
  sub: string
  sid: string
  appid: string
}

export interface TokenPair {
  accessToken: string
  tokenType: 'Bearer'
  expiresIn: number
  refreshToken: string
  refreshExpiresIn: number
}

export interface LoginResult extends TokenPair {
  user: { id: string, isNew: boolean }
}

export interface AuthServiceDeps {
  apps: WechatApp[]
  wechat: Pick<WechatClient, 'code2session'>
  identities: IdentityRepository
  loginWrites: LoginWrites
  sessions: SessionStore
  signAccessToken: (claims: AccessClaims) => string
  accessTtlSeconds: number
}

// A code is single-use at WeChat: requests carrying the same code (double tap,
// client retry) share one exchange, and its success is kept this long.
const CODE_RESULT_MEMORY_MS = 60_000

/** Login and refresh: WeChat first, then the database; nothing is written when WeChat refuses. */
export class AuthService {
  private readonly apps: Map<string, WechatApp>
  private readonly exchanges = new SingleFlight<Code2Session>(CODE_RESULT_MEMORY_MS)

  constructor (private readonly deps: AuthServiceDeps) {
    this.apps = new Map(deps.apps.map((app) => [app.appid, app]))
  }

  selectApp (appid: string | undefined): WechatApp {
    if (appid === undefined) {
      if (this.apps.size !== 1) throw new AppRequired()
      return this.apps.values().next().value!
    }
    const app = this.apps.get(appid)
    if (app === undefined) throw new AppUnknown(appid)
    return app
  }

  async login (code: string, appid?: string): Promise<LoginResult> {
    const app = this.selectApp(appid)
    const key = createHash('sha256').update(`${app.appid}\0${code}`).digest('base64url')
    const session = await this.exchanges.run(key, () => this.deps.wechat.code2session(app, code))
    const grant = await this.record({ appid: app.appid, ...session })
    return { ...this.tokens(grant), user: { id: grant.userId, isNew: grant.isNewUser } }
  }

  /**
   * Two round trips: read the identity, then write identity, session and token
   * in one statement. A concurrent first login of the same person makes the
   * insert lose; it then reads again and takes the returning path.
   */
  private async record (login: WechatLogin): Promise<LoginGrant> {
    const { identities, loginWrites } = this.deps
    for (let attempt = 1; ; attempt++) {
      const identity = await identities.find(login.appid, login.openid)
      try {
        if (identity === undefined) return await loginWrites.first(login)
        const grant = await loginWrites.returning(identity, login)
        // The app was bound to the Open Platform after this identity's first login.
        if (login.unionid !== undefined && identity.unionid === null) {
          grant.userId = await identities.linkUnionid(identity.id, identity.user_id, login.unionid)
        }
        return grant
      } catch (error) {
        if (!(error instanceof LostInsertRace) || attempt >= 3) throw error
      }
    }
  }

  async refresh (refreshToken: string): Promise<TokenPair> {
    return this.tokens(await this.deps.sessions.rotate(refreshToken))
  }

  private tokens (grant: SessionGrant): TokenPair {
    return {
      accessToken: this.deps.signAccessToken({ sub: grant.userId, sid: grant.sessionId, appid: grant.appid }),
      tokenType: 'Bearer',
      expiresIn: this.deps.accessTtlSeconds,
      refreshToken: grant.refreshToken,
      refreshExpiresIn: Math.max(0, Math.floor((grant.refreshExpiresAt.getTime() - Date.now()) / 1000))
    }
  }
}
