import t, { type Test } from 'tap'
import { createAuthClient } from '../../client/dist/index.js'
import { authError, Clock, device, eventually, expiredCopy, liveSessions, serve, stored, type Served } from '../helpers/client.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

// A logout the service did not hear (offline, 5xx) rejects, the tokens leave
// the device at once, and the logout is kept in storage and sent when the
// service answers again: the session does not stay live for 30 days.

async function offline (t: Test, served: Served) {
  const proxy = new TcpProxy(Number(new URL(served.url).port))
  const port = await proxy.listen(t)
  const clock = new Clock()
  const wx = device(served)
  const make = (w = wx) => createAuthClient({ baseUrl: `http://127.0.0.1:${port}`, wx: w, now: clock.now })
  return { proxy, clock, wx, make }
}

t.test('attack: a logout while offline is sent when the service answers again, and the session ends', async (t) => {
  const served = await serve(t)
  const { proxy, wx, make } = await offline(t, served)
  const auth = make()
  await auth.login()
  await proxy.cut()
  await t.rejects(auth.logout(), authError('NETWORK_ERROR'))
  t.equal(auth.isLoggedIn(), false)
  t.equal(stored(wx), '', 'no tokens on the device')
  await proxy.restore()
  t.equal(await liveSessions(served), 1, 'the service has not heard it yet')
  await auth.login()
  t.equal(await eventually(() => liveSessions(served), 1), 1, 'the first answer sent it: only the new session is live')
  t.equal(served.hits('POST /v1/auth/logout'), 1)
  t.equal(wx.getStorageSync('weapp-auth:logout'), '', 'nothing left pending')
})

t.test('attack: a logoutAll while offline, then a restart after the access token expired: refreshed and sent at start', async (t) => {
  const served = await serve(t)
  const { proxy, wx, make } = await offline(t, served)
  const elsewhere = make(device(served))
  await elsewhere.login()
  const auth = make()
  await auth.login()
  await proxy.cut()
  await t.rejects(auth.logoutAll(), authError('NETWORK_ERROR'))
  await proxy.restore()
  // The app is closed until the access token has expired at the service.
  const pending = wx.getStorageSync('weapp-auth:logout') as { accessToken: string }[]
  t.equal(pending.length, 1)
  wx.setStorageSync('weapp-auth:logout', pending.map((entry) => ({ ...entry, accessToken: expiredCopy(served.app, entry.accessToken) })))
  make(device(served, 'alice', wx.storage))
  t.equal(await eventually(() => liveSessions(served), 0), 0, 'every session of the user ended')
  t.equal(served.hits('POST /v1/auth/refresh'), 1, 'one refresh to get a token the service takes')
  t.equal(served.hits('POST /v1/auth/logout-all'), 2)
  t.equal(wx.getStorageSync('weapp-auth:logout'), '')
})

t.test('attack: two pending logouts and a storage that refuses writes: each is sent once, not in a loop for ever', async (t) => {
  const served = await serve(t)
  const { proxy, wx, make } = await offline(t, served)
  const auth = make()
  for (let i = 0; i < 2; i++) {
    await auth.login()
    await proxy.cut()
    await t.rejects(auth.logout(), authError('NETWORK_ERROR'))
    await proxy.restore()
  }
  t.equal((wx.getStorageSync('weapp-auth:logout') as unknown[]).length, 2)
  wx.failStorageWrites = Infinity
  const events: string[] = []
  auth.onChange((event) => events.push(event.type))
  await auth.login()
  t.equal(await eventually(() => liveSessions(served), 1), 1, 'both heard: only the new session is live')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(served.hits('POST /v1/auth/logout'), 2, 'each logout sent once')
  t.match(events, ['storageError', 'signIn'])
})
