import type { IncomingMessage } from 'node:http'
import type { Test } from 'tap'
import { createAuthClient, type AuthClient, type AuthClientOptions } from '../../client/dist/index.js'
import { RuntimeSimulator } from '../../src/dev/runtime-simulator.js'
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
export function device (served: Pick<Served, 'fake'>, user = 'alice', storage?: Map<string, string>): RuntimeSimulator {
  return new RuntimeSimulator({ fakeUrl: served.fake.url, appid: APP.appid, user, ...(storage !== undefined ? { storage } : {}) })
}

/** The clock the client judges expiry by; it moves only when a test moves it. */
export class Clock {
  ms = Date.now()
  readonly now = (): number => this.ms
  advance (seconds: number): void { this.ms += seconds * 1000 }
}

export function client (served: Pick<Served, 'url'>, wx: RuntimeSimulator, options: Partial<AuthClientOptions> = {}): AuthClient {
  return createAuthClient({ baseUrl: served.url, wx, ...options })
}

export interface StoredTokens {
  accessToken: string
  refreshToken: string
  expiresAt: number
}

/** What the client keeps in storage ('' when nothing, as wx.getStorageSync answers). */
export function stored (wx: RuntimeSimulator, key = 'weapp-auth'): StoredTokens | '' {
  return wx.getStorageSync(key) as StoredTokens | ''
}

/** Rewrites the stored session, as a test of what the client does with what it finds. */
export function restore (wx: RuntimeSimulator, patch: Partial<StoredTokens>, key = 'weapp-auth'): void {
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

/** Sessions not ended at the service. */
export async function liveSessions (served: Pick<Served, 'prisma'>): Promise<number> {
  return (await served.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NULL`)[0]!.n
}

/** What `check` gives once it equals `expected` (it is what the client does in the background), or its last value after 5 s. */
export async function eventually<T> (check: () => Promise<T>, expected: T): Promise<T> {
  const until = Date.now() + 5000
  let value = await check()
  while (value !== expected && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    value = await check()
  }
  return value
}

export const HUNG = 'still waiting after 5 s'

/** The promise's value, or HUNG when it has not settled within 5 s (a hang, not a speed check). */
export function within<T> (promise: Promise<T>): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<typeof HUNG>((resolve) => { timer = setTimeout(resolve, 5000, HUNG) })
  return Promise.race([promise, hung]).finally(() => clearTimeout(timer))
}

/** Bans the user as an admin does (users.disabled_at), or lifts the ban. */
export async function setBan (served: Pick<Served, 'prisma'>, userId: string, banned: boolean): Promise<void> {
  await served.prisma.$executeRaw`UPDATE users SET disabled_at = ${banned ? new Date() : null} WHERE id = ${userId}::uuid`
}

/** A served app and one device whose client runs on a test clock. */
export async function clocked (t: Test, options: Partial<AuthClientOptions> = {}) {
  const served = await serve(t)
  const clock = new Clock()
  const wx = device(served)
  const auth = client(served, wx, { now: clock.now, ...options })
  return { served, clock, wx, auth }
}
