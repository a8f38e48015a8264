import t from 'tap'
import { startAppApi } from '../helpers/app-api.js'
import { authError, client, Clock, clocked, device, eventually, HUNG, liveSessions, serve, setBan, within } from '../helpers/client.js'

// Logins cost a wx.login() and a session each: a stuck wx.login, a banned user
// and an API that refuses every fresh token must not turn into one per request.

t.test('attack: a wx.login that never calls back rejects WX_LOGIN_TIMEOUT, and the next request logs in', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx, { loginTimeoutMs: 300 })
  wx.hangLogins = 1
  const results = await within(Promise.allSettled([auth.request({ url: '/v1/me' }), auth.login()]))
  t.not(results, HUNG, 'no caller waits for ever')
  t.match(results, [{ status: 'rejected', reason: authError('WX_LOGIN_TIMEOUT') }, { status: 'rejected', reason: authError('WX_LOGIN_TIMEOUT') }])
  t.equal(wx.calls.login, 1, 'one wx.login for both')
  const me = await within(auth.request({ url: '/v1/me' }))
  t.match(me, { statusCode: 200 }, 'a request after wx.login works again')
  t.equal(wx.calls.login, 2)
})

t.test('attack: a banned user costs one wx.login and one login, not one per request; after the cool-down, one more try', async (t) => {
  const { served, clock, wx, auth } = await clocked(t)
  const { userId } = await auth.login()
  await auth.logout()
  await setBan(served, userId, true)
  for (let i = 0; i < 10; i++) await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(wx.calls.login, 2, 'one wx.login for the ten')
  t.equal(served.hits('POST /v1/auth/login'), 2)
  await t.rejects(auth.login(), { ...authError('USER_DISABLED', 403), retryAfter: 60 }, 'login() too, with the seconds left')
  clock.advance(61)
  await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(served.hits('POST /v1/auth/login'), 3, 'one try after the cool-down')
  await setBan(served, userId, false)
  clock.advance(61)
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'the ban lifted: signed in again')
})

t.test('attack: a user banned while signed in: the refusal clears the tokens, and requests fail at once during the cool-down', async (t) => {
  const { served, clock, wx, auth } = await clocked(t, { disabledCooldownSeconds: 300 })
  const { userId } = await auth.login()
  await setBan(served, userId, true)
  await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(auth.isLoggedIn(), false, 'the tokens are gone')
  const sent = wx.calls.request
  for (let i = 0; i < 5; i++) await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(wx.calls.request, sent, 'nothing sent during the cool-down')
  t.equal(wx.calls.login, 1)
  clock.advance(301)
  await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(wx.calls.login, 2)

  // A ban seen by a refresh: the same.
  const bob = device(served, 'bob')
  const onBob = client(served, bob, { now: clock.now })
  const bobId = (await onBob.login()).userId
  await setBan(served, bobId, true)
  clock.advance(15 * 60)
  await t.rejects(onBob.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  await t.rejects(onBob.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(bob.calls.login, 1, 'no login for a banned user')
})

t.test('attack: an API answering 401 to every fresh token costs at most reloginLimit logins a window, and each replaced session is ended', async (t) => {
  const served = await serve(t)
  const api = await startAppApi(t, served.url)
  const clock = new Clock()
  const wx = device(served)
  const auth = client(served, wx, { now: clock.now, apiOrigins: [api.url] })
  await auth.login()
  const codes: string[] = []
  for (let i = 0; i < 10; i++) codes.push(await auth.request({ url: `${api.url}/forbidden` }).then(() => 'resolved', (error: { code: string }) => error.code))
  t.same(codes, [...Array(3).fill('NOT_A_MEMBER'), ...Array(7).fill('RELOGIN_LIMITED')])
  t.equal(wx.calls.login, 4, 'the first login and three re-logins')
  t.equal(api.hits('/forbidden'), 3 * 2 + 7, 'a limited request is sent once')
  t.equal(await eventually(() => liveSessions(served), 1), 1, 'the replaced sessions were ended at the service')
  const error = await auth.request({ url: `${api.url}/forbidden` }).catch((e: unknown) => e)
  t.match(error, { ...authError('RELOGIN_LIMITED'), retryAfter: Number, message: /3 logins/ })
  clock.advance(61)
  await t.rejects(auth.request({ url: `${api.url}/forbidden` }), authError('NOT_A_MEMBER', 401), 'a new window: one re-login again')
  t.equal(wx.calls.login, 5)
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'the service itself still serves')
})

t.test('attack: a loginTimeoutMs past what setTimeout holds (2^31 ms) does not make every wx.login time out at once', async (t) => {
  const served = await serve(t)
  for (const loginTimeoutMs of [2 ** 31, Number.MAX_SAFE_INTEGER]) {
    const wx = device(served)
    const result = await client(served, wx, { loginTimeoutMs }).login().then(() => 'signed in', (error: { code: string }) => error.code)
    t.equal(result, 'signed in', `loginTimeoutMs ${loginTimeoutMs}`)
  }
})

t.test('attack: an API answering 401 SESSION_KEY_STALE to every token costs at most reloginLimit logins a window', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  const wx = device(served)
  const api = 'https://api.example.test'
  const auth = client(served, wx, { now: clock.now, apiOrigins: [api] })
  wx.standIn = ({ url }) => url.startsWith(api) ? { statusCode: 401, body: '{"code":"SESSION_KEY_STALE"}' } : undefined
  await auth.login()
  const codes: string[] = []
  for (let i = 0; i < 10; i++) codes.push(await auth.request({ url: `${api}/orders` }).then(() => 'resolved', (error: { code: string }) => error.code))
  t.same(codes, Array(10).fill('SESSION_KEY_STALE'))
  t.ok(wx.calls.login <= 4, `the first login and at most three re-logins (${wx.calls.login})`)
  t.equal(await eventually(() => liveSessions(served), 1), 1, 'the replaced sessions were ended')
})

t.test('attack: a wx.login or wx.request that throws instead of calling fail rejects with the client\'s codes, and a logout is kept', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx, { loginTimeoutMs: 60000 })
  const login = wx.login.bind(wx)
  wx.login = () => { throw new Error('login:fail not supported here') }
  t.match(await within(auth.login().catch((e: unknown) => e)), authError('WX_LOGIN_FAILED'), 'WX_LOGIN_FAILED, not a bare Error')
  wx.login = login
  await auth.login()
  const request = wx.request.bind(wx)
  wx.request = () => { throw new Error('request:fail invalid url') }
  t.match(await auth.logout().catch((e: unknown) => e), authError('NETWORK_ERROR'), 'NETWORK_ERROR, not a bare Error')
  t.equal((wx.getStorageSync('weapp-auth:logout') as unknown[]).length, 1, 'the logout is kept for later')
  wx.request = request
  await auth.login()
  t.equal(await eventually(() => liveSessions(served), 1), 1, 'and sent')
})

t.test('attack: a banned user\'s cool-down outlives a restart: the mini-program started again does not log in at once', async (t) => {
  const { served, clock, wx, auth } = await clocked(t)
  const { userId } = await auth.login()
  await setBan(served, userId, true)
  await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  const restarted = device(served, 'alice', wx.storage)
  await t.rejects(client(served, restarted, { now: clock.now }).request({ url: '/v1/me' }), { ...authError('USER_DISABLED', 403), retryAfter: 60 })
  t.equal(restarted.calls.login, 0, 'no wx.login during the cool-down')
  t.equal(served.hits('POST /v1/auth/login'), 1)
  await setBan(served, userId, false)
  wx.setStorageSync('weapp-auth:disabled', 1e300)
  const later = client(served, device(served, 'alice', wx.storage), { now: clock.now })
  await t.rejects(later.request({ url: '/v1/me' }), { ...authError('USER_DISABLED', 403), retryAfter: 60 }, 'a stored time past the cool-down is not believed')
  clock.advance(61)
  t.equal((await later.request({ url: '/v1/me' })).statusCode, 200, 'one cool-down at most')
})
