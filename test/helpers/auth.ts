import type { FastifyInstance } from 'fastify'
import type { FakeWechat } from '../../src/dev/fake-wechat.js'
import type { PrismaClient } from '../../src/generated/prisma/client.js'
import { APP } from '../helper.js'

export interface LoginBody {
  accessToken: string
  refreshToken: string
  expiresIn: number
  refreshExpiresIn: number
  user: { id: string, isNew: boolean }
}

/** Plays the mini-program: wx.login() at the fake, then POST /v1/auth/login. */
export async function login (app: FastifyInstance, fake: FakeWechat, user: string, appid = APP.appid): Promise<LoginBody> {
  const { code } = fake.login(appid, user)
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export async function refresh (app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken } })
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/**
 * Live refresh tokens: one per session that holds one (not revoked, not past
 * its end), and rows of the previous scheme not yet retired.
 */
export async function liveRefreshTokens (prisma: PrismaClient): Promise<number> {
  const [row] = await prisma.$queryRaw<{ live: number }[]>`
    SELECT (SELECT count(*)::int FROM sessions WHERE refresh_hash IS NOT NULL AND revoked_at IS NULL AND expires_at > now())
         + (SELECT count(*)::int FROM refresh_tokens WHERE retired_at IS NULL) AS live`
  return row!.live
}

/** Rows written by logins; `tokens`: refresh tokens stored (on their session's row, or rows of the previous scheme). */
export async function rowCounts (prisma: PrismaClient): Promise<{ users: number, identities: number, sessions: number, tokens: number }> {
  const [row] = await prisma.$queryRaw<{ users: number, identities: number, sessions: number, tokens: number }[]>`
    SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM identities) AS identities,
           (SELECT count(*)::int FROM sessions) AS sessions,
           (SELECT count(*)::int FROM sessions WHERE refresh_hash IS NOT NULL) + (SELECT count(*)::int FROM refresh_tokens) AS tokens`
  return row!
}

/** POST with the bearer token, as the mini-program calls the authenticated routes. */
export const post = (app: FastifyInstance, url: string, token: string, payload: object) =>
  app.inject({ method: 'POST', url, headers: bearer(token), payload })

/** GET /v1/me with the bearer token: the user's profile. */
export const me = async (app: FastifyInstance, token: string) => (await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).json()
