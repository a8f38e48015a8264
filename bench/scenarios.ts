import type autocannon from 'autocannon'
import type { FakeWechat } from '../src/dev/fake-wechat.js'

export interface FixtureUser {
  accessToken: string
  refreshToken: string
  sealed: { encryptedData: string, iv: string }
}

export interface Fixture {
  users: FixtureUser[]
  /** Users of their own for the floor's refresh row: a refresh token is used once, by one process. */
  floorUsers: FixtureUser[]
  fake: FakeWechat
  appid: string
}

export interface Scenario {
  name: string
  /** Which process serves it: a bare Fastify "hello", the floors (bench/floor-server.mjs), or the service. */
  target: 'bare' | 'floor' | 'service'
  /** The floor row this route is compared with (server CPU per request). */
  floor?: string
  build: (fixture: Fixture) => { request: autocannon.Request }
}

const bearerGet = (path: string) => ({ users }: Fixture) => {
  const user = rotate(users)
  return { request: { method: 'GET' as const, path, setupRequest: (req: autocannon.Request) => ({ ...req, headers: { authorization: `Bearer ${user().accessToken}` } }) } }
}

/**
 * Every answer's refresh token goes back into the pool the next request takes from: each token is used exactly once,
 * as a client following its rotation would.
 */
const refreshChain = (users: FixtureUser[]) => {
  const pool = users.map((u) => u.refreshToken)
  return {
    request: {
      method: 'POST' as const,
      path: '/v1/auth/refresh',
      setupRequest: (req: autocannon.Request) => ({
        ...req, headers: { ...JSON_HEADERS }, body: JSON.stringify({ refreshToken: pool.shift() })
      }),
      onResponse: (status: number, body: string) => {
        if (status === 200) pool.push((JSON.parse(body) as { refreshToken: string }).refreshToken)
      }
    }
  }
}

export const FLOORS = {
  bearer: 'floor: Fastify + fast-jwt, GET /v1/auth/session',
  me: 'floor: + pg prepared statement, GET /v1/me',
  refresh: 'floor: + pg prepared statement, POST /v1/auth/refresh'
}

// Frozen: autocannon writes content-length into the headers object of the
// requests it sends, so each request gets a copy (a shared one broke later logins).
const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json' })
const USERS = 1000

/** Round-robin over the fixture's users. */
function rotate<T> (items: T[]): () => T {
  let next = 0
  return () => items[next++ % items.length]!
}

function list (): Scenario[] {
  return [
    { name: 'bare Fastify GET /hello', target: 'bare', build: () => ({ request: { method: 'GET', path: '/hello' } }) },
    { name: FLOORS.bearer, target: 'floor', build: bearerGet('/v1/auth/session') },
    { name: 'GET /v1/auth/session (Bearer only)', target: 'service', floor: FLOORS.bearer, build: bearerGet('/v1/auth/session') },
    { name: FLOORS.me, target: 'floor', build: bearerGet('/v1/me') },
    { name: 'GET /v1/me', target: 'service', floor: FLOORS.me, build: bearerGet('/v1/me') },
    { name: FLOORS.refresh, target: 'floor', build: ({ floorUsers }) => refreshChain(floorUsers) },
    { name: 'POST /v1/auth/refresh', target: 'service', floor: FLOORS.refresh, build: ({ users }) => refreshChain(users) },
    {
      name: 'POST /v1/auth/login',
      target: 'service',
      build: ({ fake, appid }) => {
        let n = 0
        return {
          request: {
            method: 'POST',
            path: '/v1/auth/login',
            // wx.login() for one of USERS users, most of them returning after the warm-up
            // (WeChat allows 100 logins a minute per user: at most USERS * 100 / 60 per second).
            setupRequest: (req) => ({ ...req, headers: { ...JSON_HEADERS }, body: JSON.stringify({ code: fake.login(appid, `bench-${n++ % USERS}`).code }) })
          }
        }
      }
    },
    {
      name: 'POST /v1/auth/decrypt',
      target: 'service',
      build: ({ users }) => {
        const user = rotate(users)
        return {
          request: {
            method: 'POST',
            path: '/v1/auth/decrypt',
            setupRequest: (req) => {
              const u = user()
              return { ...req, headers: { ...JSON_HEADERS, authorization: `Bearer ${u.accessToken}` }, body: JSON.stringify(u.sealed) }
            }
          }
        }
      }
    }
  ]
}

async function loginUsers (serviceUrl: string, fake: FakeWechat, appid: string, names: string[]): Promise<FixtureUser[]> {
  const users: FixtureUser[] = []
  for (const [i, name] of names.entries()) {
    const res = await fetch(`${serviceUrl}/v1/auth/login`, { method: 'POST', headers: { ...JSON_HEADERS }, body: JSON.stringify({ code: fake.login(appid, name).code }) })
    if (!res.ok) throw new Error(`fixture login failed: ${res.status} ${await res.text()}`)
    const body = await res.json() as { accessToken: string, refreshToken: string }
    const { encryptedData, iv } = fake.userInfo(appid, name, { nickName: `用户${i} 🐼`, avatarUrl: 'https://thirdwx.qlogo.cn/a.png', gender: 1, city: 'Shenzhen' })
    users.push({ accessToken: body.accessToken, refreshToken: body.refreshToken, sealed: { encryptedData, iv } })
  }
  return users
}

/** Logs `count` users in through the service (and as many for the floor's refresh row), sealing a user-info payload for each. */
async function fixture (serviceUrl: string, fake: FakeWechat, appid: string, count: number): Promise<Fixture> {
  const names = (prefix: string) => Array.from({ length: count }, (_v, i) => `${prefix}-${i}`)
  return { users: await loginUsers(serviceUrl, fake, appid, names('fixture')), floorUsers: await loginUsers(serviceUrl, fake, appid, names('floor')), fake, appid }
}

export const scenarios = { list, fixture }
