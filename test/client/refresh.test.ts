import t from 'tap'
import { authError, client, Clock, device, expiredCopy, restore, serve, stored, type Served } from '../helpers/client.js'
import type { RuntimeSimulator } from '../../src/dev/runtime-simulator.js'

const N = 10
const parallel = <T>(n: number, call: () => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, call))

/** The Bearer tokens of the requests the device sent to `path`, in order. */
function bearersTo (wx: RuntimeSimulator, path: string): string[] {
  const seen: string[] = []
  const request = wx.request.bind(wx)
  wx.request = (options) => {
    if (new URL(options.url).pathname === path) seen.push(String(options.header?.Authorization))
    request(options)
  }
  return seen
}

async function signedIn (served: Served, clock: Clock, user = 'alice') {
  const wx = device(served, user)
  const auth = client(served, wx, { now: clock.now })
  await auth.login()
  return { wx, auth }
}

t.test('the token is refreshed before a request once inside the leeway, not before', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  const { auth } = await signedIn(served, clock)
  clock.advance(15 * 60 - 30 - 1)
  await auth.request({ url: '/v1/me' })
  t.equal(served.hits('POST /v1/auth/refresh'), 0, '31 s before exp: no refresh')
  clock.advance(2)
  await auth.request({ url: '/v1/me' })
  t.equal(served.hits('POST /v1/auth/refresh'), 1, '29 s before exp: refreshed')

  const wide = client(served, device(served, 'bob'), { now: clock.now, refreshLeewaySeconds: 300 })
  await wide.login()
  clock.advance(15 * 60 - 301)
  await wide.request({ url: '/v1/me' })
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  clock.advance(2)
  await wide.request({ url: '/v1/me' })
  t.equal(served.hits('POST /v1/auth/refresh'), 2, 'refreshLeewaySeconds moves the point')
})

t.test("a device clock two hours off does not change when it refreshes: expiry is the token's own lifetime", async (t) => {
  const served = await serve(t)
  const refreshes = (): number => served.hits('POST /v1/auth/refresh')
  for (const [user, offset] of [['ahead', 2 * 3600], ['behind', -2 * 3600]] as const) {
    const clock = new Clock()
    clock.advance(offset)
    const { auth } = await signedIn(served, clock, user)
    const before = refreshes()
    await auth.request({ url: '/v1/me' })
    t.equal(refreshes(), before, `clock ${user}: a fresh token is not refreshed`)
    clock.advance(15 * 60 - 29)
    await auth.request({ url: '/v1/me' })
    t.equal(refreshes(), before + 1, `clock ${user}: refreshed 29 s before its end`)
  }
})

t.test(`${N} concurrent requests with an expiring token cost one refresh, and all go out with the new token`, async (t) => {
  // No grace window: a second refresh of the same token would revoke the session as theft.
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const { wx, auth } = await signedIn(served, clock)
  const before = stored(wx)
  const bearers = bearersTo(wx, '/v1/me')
  clock.advance(15 * 60)
  const results = await parallel(N, () => auth.request({ url: '/v1/me' }))
  t.same(results.map((r) => r.statusCode), Array(N).fill(200))
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(served.hits('POST /v1/auth/login'), 1, 'the first login only')
  t.equal(wx.calls.login, 1)
  const after = stored(wx)
  t.ok(before !== '' && after !== '' && after.refreshToken !== before.refreshToken, 'the rotated refresh token is stored')
  t.same(bearers, Array(N).fill(`Bearer ${after !== '' && after.accessToken}`))
})

t.test(`${N} concurrent requests answered 401 ACCESS_TOKEN_EXPIRED: one refresh, every request replayed once`, async (t) => {
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const { wx } = await signedIn(served, clock)
  const saved = stored(wx)
  // The service signed this token; it expired an hour ago, while the device's clock says it is fresh.
  restore(wx, { accessToken: expiredCopy(served.app, saved !== '' ? saved.accessToken : '') })
  const auth = client(served, wx, { now: clock.now })
  const results = await parallel(N, () => auth.request({ url: '/v1/me' }))
  t.same(results.map((r) => r.statusCode), Array(N).fill(200))
  t.equal(served.hits('GET /v1/me'), 2 * N, 'each sent twice: expired, then with the new token')
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(served.hits('POST /v1/auth/login'), 1)
})

t.test('each request that reuses the rotated pair finds it in storage first', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  const { wx, auth } = await signedIn(served, clock)
  const inStorage: boolean[] = []
  const request = wx.request.bind(wx)
  wx.request = (options) => {
    const saved = stored(wx)
    if (options.url.endsWith('/v1/me')) inStorage.push(saved !== '' && options.header?.Authorization === `Bearer ${saved.accessToken}`)
    request(options)
  }
  clock.advance(15 * 60)
  await parallel(3, () => auth.request({ url: '/v1/me' }))
  t.same(inStorage, [true, true, true])
})

/** Alice signed in on this device, then logged out everywhere from another one. */
async function endedElsewhere (served: Served, clock: Clock) {
  const here = await signedIn(served, clock)
  const other = await signedIn(served, clock)
  await other.auth.logoutAll()
  return here
}

t.test('a refused refresh (the session was ended on another device): one login shared by every waiting request', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  const { wx, auth } = await endedElsewhere(served, clock)
  clock.advance(15 * 60)
  const results = await parallel(N, () => auth.request({ url: '/v1/me' }))
  t.same(results.map((r) => r.statusCode), Array(N).fill(200))
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(wx.calls.login, 2, 'one re-login')
  t.equal(served.hits('POST /v1/auth/login'), 3, 'two first logins, one re-login')
  t.equal(served.hits('GET /v1/me'), N, 'each sent once, after the re-login')
})

t.test('a session revoked elsewhere while the access token is valid: N requests get SESSION_REVOKED, one re-login, one replay each', async (t) => {
  const served = await serve(t)
  const { wx, auth } = await endedElsewhere(served, new Clock())
  const results = await parallel(N, () => auth.request<{ openid: string }>({ url: '/v1/me' }))
  t.same(results.map((r) => r.statusCode), Array(N).fill(200))
  t.equal(wx.calls.login, 2)
  t.equal(served.hits('POST /v1/auth/login'), 3)
  t.equal(served.hits('POST /v1/auth/refresh'), 0)
  t.equal(served.hits('GET /v1/me'), 2 * N)
})

t.test('refresh refused by the rate limit: a token still inside its life serves; an expired one rejects with Retry-After', async (t) => {
  const served = await serve(t, { env: { RATE_LIMIT_AUTH_MAX: '1' } })
  const clock = new Clock()
  const { wx, auth } = await signedIn(served, clock)
  clock.advance(15 * 60 - 10)
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'refreshed within the limit')
  clock.advance(15 * 60 - 10)
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'refresh 429, the token 10 s from its end still used')
  t.equal(served.hits('POST /v1/auth/refresh'), 2)
  clock.advance(20)
  const error = await auth.request({ url: '/v1/me' }).catch((e: unknown) => e)
  t.match(error, { ...authError('RATE_LIMITED', 429), retryAfter: Number })
  t.equal(served.hits('POST /v1/auth/refresh'), 3, 'one refresh per request: no retry storm')
  t.equal(served.hits('GET /v1/me'), 2)
  t.equal(wx.calls.login, 1, 'a rate limit is no reason to log in')
  t.equal(auth.isLoggedIn(), true, 'and no reason to drop the session')
})

t.test('attack: refreshLeewaySeconds at or above the token lifetime is clamped to half of it; NaN or negative is refused at creation', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  for (const [user, leeway] of [['at', 15 * 60], ['above', 86400]] as const) {
    const wx = device(served, user)
    const auth = client(served, wx, { now: clock.now, refreshLeewaySeconds: leeway })
    await auth.login()
    const before = served.hits('POST /v1/auth/refresh')
    for (let i = 0; i < 6; i++) {
      await auth.request({ url: '/v1/me' })
      clock.advance(60)
    }
    t.equal(served.hits('POST /v1/auth/refresh'), before, `${user} the lifetime: no refresh in the first 6 minutes`)
    clock.advance(90)
    await auth.request({ url: '/v1/me' })
    t.equal(served.hits('POST /v1/auth/refresh'), before + 1, `${user} the lifetime: refreshed at half of it`)
  }
  for (const leeway of [NaN, -1, Infinity]) {
    t.throws(() => client(served, device(served), { refreshLeewaySeconds: leeway }), { name: 'TypeError', message: /refreshLeewaySeconds/ }, String(leeway))
  }
})
