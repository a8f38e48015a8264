import type autocannon from 'autocannon'
import type { FakeWechat } from '../src/dev/fake-wechat.js'

export interface FixtureUser {
  accessToken: string
  refreshToken: string
  sealed: { encryptedData: string, iv: string }
}

export interface Fixture {
  users: FixtureUser[]
  fake: FakeWechat
  appid: string
}

export interface Scenario {
  name: string
  /** Runs against the bare Fastify process instead of the service. */
  bare?: boolean
  build: (fixture: Fixture) => { request: autocannon.Request }
}

const JSON_HEADERS = { 'content-type': 'application/json' }
const USERS = 1000

/** Round-robin over the fixture's users. */
function rotate<T> (items: T[]): () => T {
  let next = 0
  return () => items[next++ % items.length]!
}

function list (): Scenario[] {
  return [
    { name: 'bare Fastify GET /hello', bare: true, build: () => ({ request: { method: 'GET', path: '/hello' } }) },
    {
      name: 'GET /v1/auth/session (Bearer only)',
      build: ({ users }) => {
        const user = rotate(users)
        return { request: { method: 'GET', path: '/v1/auth/session', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${user().accessToken}` } }) } }
      }
    },
    {
      name: 'GET /v1/me',
      build: ({ users }) => {
        const user = rotate(users)
        return { request: { method: 'GET', path: '/v1/me', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${user().accessToken}` } }) } }
      }
    },
    {
      name: 'POST /v1/auth/refresh',
      // Every answer's refresh token goes back into the pool the next request takes from:
      // each token is used exactly once, as a client following its rotation would.
      build: ({ users }) => {
        const pool = users.map((u) => u.refreshToken)
        return {
          request: {
            method: 'POST',
            path: '/v1/auth/refresh',
            setupRequest: (req) => ({ ...req, headers: JSON_HEADERS, body: JSON.stringify({ refreshToken: pool.shift() }) }),
            onResponse: (status, body) => {
              if (status === 200) pool.push((JSON.parse(body) as { refreshToken: string }).refreshToken)
            }
          }
        }
      }
    },
    {
      name: 'POST /v1/auth/login',
      build: ({ fake, appid }) => {
        let n = 0
        return {
          request: {
            method: 'POST',
            path: '/v1/auth/login',
            // wx.login() for one of USERS users, most of them returning after the warm-up
            // (WeChat allows 100 logins a minute per user: at most USERS * 100 / 60 per second).
            setupRequest: (req) => ({ ...req, headers: JSON_HEADERS, body: JSON.stringify({ code: fake.login(appid, `bench-${n++ % USERS}`).code }) })
          }
        }
      }
    },
    {
      name: 'POST /v1/auth/decrypt',
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

/** Logs `count` users in through the service and seals a user-info payload for each. */
async function fixture (serviceUrl: string, fake: FakeWechat, appid: string, count: number): Promise<Fixture> {
  const users: FixtureUser[] = []
  for (let i = 0; i < count; i++) {
    const name = `fixture-${i}`
    const res = await fetch(`${serviceUrl}/v1/auth/login`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ code: fake.login(appid, name).code }) })
    if (!res.ok) throw new Error(`fixture login failed: ${res.status} ${await res.text()}`)
    const body = await res.json() as { accessToken: string, refreshToken: string }
    const { encryptedData, iv } = fake.userInfo(appid, name, { nickName: `用户${i} 🐼`, avatarUrl: 'https://thirdwx.qlogo.cn/a.png', gender: 1, city: 'Shenzhen' })
    users.push({ accessToken: body.accessToken, refreshToken: body.refreshToken, sealed: { encryptedData, iv } })
  }
  return { users, fake, appid }
}

export const scenarios = { list, fixture }
