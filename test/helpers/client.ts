import type { IncomingMessage } from 'node:http'
import type { Test } from 'tap'
import { createAuthClient, type AuthClient, type AuthClientOptions } from '../../client/dist/index.js'
import { WxSimulator } from '../../src/dev/wx-simulator.js'
import { APP, build, type BuildOptions, type Built } from '../helper.js'

// The client SDK against the real service: the service listens on a loopback
// port, the simulated wx runtime reaches it over HTTP, and every request that
// reaches the service is counted there, not by the SDK.

export interface Served extends Built {
  url: string
  /** Requests that reached the service, by 'METHOD /path'. */
  hits: (route: string) => number
}

export async function serve (t: Test, options: BuildOptions = {}): Promise<Served> {
  const built = await build(t, options)
  const counts = new Map<string, number>()
  built.app.server.on('request', (req: IncomingMessage) => {
    const route = `${req.method} ${req.url!.split('?')[0]}`
    counts.set(route, (counts.get(route) ?? 0) + 1)
  })
  const url = await built.app.listen({ host: '127.0.0.1', port: 0 })
  return { ...built, url, hits: (route) => counts.get(route) ?? 0 }
}

/** A phone running the mini-program for `user`; pass another device's storage to play a restart. */
export function device (served: Pick<Served, 'fake'>, user = 'alice', storage?: Map<string, string>): WxSimulator {
  return new WxSimulator({ wechatUrl: served.fake.url, appid: APP.appid, user, ...(storage !== undefined ? { storage } : {}) })
}

/** The clock the client judges expiry by; it moves only when a test moves it. */
export class Clock {
  ms = Date.now()
  readonly now = (): number => this.ms
  advance (seconds: number): void { this.ms += seconds * 1000 }
}

export function client (served: Pick<Served, 'url'>, wx: WxSimulator, options: Partial<AuthClientOptions> = {}): AuthClient {
  return createAuthClient({ baseUrl: served.url, wx, ...options })
}

export interface StoredTokens {
  accessToken: string
  refreshToken: string
  expiresAt: number
}

/** What the client keeps in storage ('' when nothing, as wx.getStorageSync answers). */
export function stored (wx: WxSimulator, key = 'weapp-auth'): StoredTokens | '' {
  return wx.getStorageSync(key) as StoredTokens | ''
}

/** Rewrites the stored session, as a test of what the client does with what it finds. */
export function restore (wx: WxSimulator, patch: Partial<StoredTokens>, key = 'weapp-auth'): void {
  wx.setStorageSync(key, { ...(stored(wx, key) || {}), ...patch })
}

/** An access token the service signed, for the same user and session as `token`, that expired an hour ago. */
export function expiredCopy (app: Served['app'], token: string): string {
  const { sub, sid, appid } = app.jwt.decode<{ sub: string, sid: string, appid: string }>(token)!
  const iat = Math.floor(Date.now() / 1000) - 3600
  return app.signAccessToken({ sub, sid, appid }, { iat, exp: iat + 15 * 60 })
}

/** The codes AuthError carries, for t.rejects/t.match. */
export const authError = (code: string, statusCode?: number) => ({ name: 'AuthError', code, ...(statusCode !== undefined ? { statusCode } : {}) })
