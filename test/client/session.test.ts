import t from 'tap'
import { APP } from '../helper.js'
import { rowCounts } from '../helpers/auth.js'
import { authError, client, Clock, clocked, device, serve, stored } from '../helpers/client.js'

t.test('a request with no tokens logs in first: one wx.login, one login, then the request with the Bearer token', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  t.equal(auth.isLoggedIn(), false)
  const me = await auth.request<{ openid: string }>({ url: '/v1/me' })
  t.equal(me.statusCode, 200)
  t.equal(me.data.openid, served.fake.openid(APP.appid, 'alice'))
  t.equal(wx.calls.login, 1)
  t.equal(served.hits('POST /v1/auth/login'), 1)
  t.equal(served.hits('GET /v1/me'), 1)
  t.equal(auth.isLoggedIn(), true)
  const saved = stored(wx)
  t.ok(saved !== '' && saved.accessToken.length > 0 && saved.refreshToken.startsWith('rt2.'), 'both tokens in one storage key')
  t.same([...wx.storage.keys()], ['weapp-auth'])
})

t.test('login() resolves with the user, and a second login of the same person is not new', async (t) => {
  const served = await serve(t)
  const first = await client(served, device(served)).login()
  t.match(first, { userId: /^[0-9a-f-]{36}$/, isNew: true })
  t.same(await client(served, device(served)).login(), { userId: first.userId, isNew: false })
  const bob = device(served, 'bob')
  t.match(await client(served, bob, { storageKey: 'my-app:auth' }).login(), { isNew: true })
  t.same([...bob.storage.keys()], ['my-app:auth'], 'storageKey names the one key')
})

t.test('a restarted mini-program (a new client on the same storage) is signed in without wx.login, with the rotated refresh token', async (t) => {
  // No grace window: a refresh token that was rotated but not persisted would be reuse, and revoke the session.
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const first = device(served)
  await client(served, first, { now: clock.now }).login()

  const second = device(served, 'alice', first.storage)
  const restarted = client(served, second, { now: clock.now })
  t.equal(restarted.isLoggedIn(), true, 'read at creation')
  t.equal((await restarted.request({ url: '/v1/me' })).statusCode, 200)
  clock.advance(15 * 60)
  t.equal((await restarted.request({ url: '/v1/me' })).statusCode, 200, 'refreshed')

  const third = device(served, 'alice', first.storage)
  const again = client(served, third, { now: clock.now })
  clock.advance(15 * 60)
  t.equal((await again.request({ url: '/v1/me' })).statusCode, 200, 'refreshed with the token the second instance stored')
  t.equal(second.calls.login + third.calls.login, 0, 'no wx.login after the restarts')
  t.equal(served.hits('POST /v1/auth/login'), 1)
  t.equal(served.hits('POST /v1/auth/refresh'), 2)
  t.equal((await rowCounts(served.prisma)).sessions, 1, 'one session all along, never revoked for reuse')
})

t.test('5 concurrent login() calls share one wx.login and one login call', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  const users = await Promise.all(Array.from({ length: 5 }, () => auth.login()))
  t.equal(new Set(users.map((u) => u.userId)).size, 1)
  t.equal(wx.calls.login, 1)
  t.equal(served.hits('POST /v1/auth/login'), 1)
  t.equal((await rowCounts(served.prisma)).sessions, 1)
  await auth.login()
  t.equal(wx.calls.login, 2, 'a later login() is a new one')
})

t.test('5 concurrent requests with no tokens: one wx.login, one login, five requests', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  const results = await Promise.all(Array.from({ length: 5 }, () => auth.request({ url: '/v1/me' })))
  t.same(results.map((r) => r.statusCode), [200, 200, 200, 200, 200])
  t.equal(wx.calls.login, 1)
  t.equal(served.hits('POST /v1/auth/login'), 1)
  t.equal(served.hits('GET /v1/me'), 5)
})

t.test('WECHAT_CODE_INVALID: one fresh wx.login and one retry; refused twice, login rejects', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  let forged = 1
  wx.codeFilter = (code) => forged-- > 0 ? 'forged-code' : code
  t.match(await client(served, wx).login(), { isNew: true })
  t.equal(wx.calls.login, 2)
  t.equal(served.hits('POST /v1/auth/login'), 2)

  const always = device(served, 'bob')
  always.codeFilter = () => 'forged-code'
  await t.rejects(client(served, always).login(), authError('WECHAT_CODE_INVALID', 401))
  t.equal(always.calls.login, 2, 'bounded: two wx.login calls')
  t.equal(served.hits('POST /v1/auth/login'), 4)
})

t.test('WECHAT_CODE_USED (the code was exchanged elsewhere first): one fresh wx.login and a retry', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  let stolen = 1
  wx.codeFilter = async (code) => {
    if (stolen-- > 0) {
      const query = new URLSearchParams({ appid: APP.appid, secret: APP.secret, js_code: code, grant_type: 'authorization_code' })
      await fetch(`${served.fake.url}/sns/jscode2session?${query}`)
    }
    return code
  }
  t.match(await client(served, wx).login(), { isNew: true })
  t.equal(wx.calls.login, 2)
  t.equal(served.hits('POST /v1/auth/login'), 2)
})

t.test('wx.login failing rejects WX_LOGIN_FAILED without calling the service; the next login() starts afresh', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  wx.failLogins = 1
  const results = await Promise.allSettled([auth.login(), auth.request({ url: '/v1/me' })])
  t.match(results, [{ status: 'rejected', reason: authError('WX_LOGIN_FAILED') }, { status: 'rejected', reason: authError('WX_LOGIN_FAILED') }])
  t.equal(wx.calls.login, 1, 'shared by both callers')
  t.equal(served.hits('POST /v1/auth/login'), 0)
  t.match(await auth.login(), { isNew: true })
  t.equal(wx.calls.login, 2)
})

t.test('a login refused by WeChat (rate limit, outage) rejects with code, status and Retry-After, without retrying', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  served.fake.setFault({ errcode: 45011, times: 1 })
  await t.rejects(auth.request({ url: '/v1/me' }), { ...authError('WECHAT_RATE_LIMITED', 429), retryAfter: 60 })
  served.fake.setFault({ status: 502 })
  await t.rejects(auth.login(), authError('WECHAT_UNAVAILABLE', 502))
  served.fake.setFault(undefined)
  t.equal(wx.calls.login, 2)
  t.equal(served.hits('POST /v1/auth/login'), 2)
  t.equal(served.hits('GET /v1/me'), 0)
  t.equal(auth.isLoggedIn(), false)
})

t.test('logout ends the session on the service and clears storage; logoutAll ends the other devices too', async (t) => {
  const served = await serve(t)
  const phone = device(served)
  const tablet = device(served)
  const onPhone = client(served, phone)
  const onTablet = client(served, tablet)
  await onPhone.login()
  await onTablet.login()
  const phoneTokens = stored(phone)

  await onPhone.logout()
  t.equal(onPhone.isLoggedIn(), false)
  t.equal(stored(phone), '', 'storage cleared')
  const refused = await served.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: phoneTokens !== '' && phoneTokens.refreshToken } })
  t.match(refused.json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  await onPhone.logout()
  t.equal(served.hits('POST /v1/auth/logout'), 1, 'logged out already: nothing to send')

  await onPhone.login()
  await onPhone.logoutAll()
  t.equal(served.hits('POST /v1/auth/logout-all'), 1)
  const tabletMe = await onTablet.request({ url: '/v1/me' })
  t.equal(tabletMe.statusCode, 200, 'the tablet logged in again')
  t.equal(tablet.calls.login, 2)
})

t.test('logout never logs in: with an expired token it refreshes first; with a revoked session it just clears', async (t) => {
  const { served, clock, wx, auth } = await clocked(t)
  await auth.login()
  clock.advance(15 * 60)
  await auth.logout()
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(served.hits('POST /v1/auth/logout'), 1)
  t.equal((await served.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NOT NULL`)[0]!.n, 1)

  await auth.login()
  const other = client(served, device(served))
  await other.login()
  await other.logoutAll()
  clock.advance(15 * 60)
  await auth.logout()
  t.equal(served.hits('POST /v1/auth/refresh'), 2, 'the refresh was refused: the session is gone already')
  t.equal(auth.isLoggedIn(), false)
  t.equal(wx.calls.login, 2, 'no login to log out')

  const launching = auth.login()
  await auth.logout()
  t.match(await launching, { isNew: false })
  t.equal(auth.isLoggedIn(), false, 'a logout during a login ends the session that login made')
  t.equal(served.hits('POST /v1/auth/logout'), 2, 'one earlier logout, this one')
})
