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

export async function rowCounts (prisma: PrismaClient): Promise<{ users: number, identities: number, sessions: number, tokens: number }> {
  const [row] = await prisma.$queryRaw<{ users: number, identities: number, sessions: number, tokens: number }[]>`
    SELECT (SELECT count(*)::int FROM users) AS users, (SELECT count(*)::int FROM wechat_identities) AS identities,
           (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM refresh_tokens) AS tokens`
  return row!
}
