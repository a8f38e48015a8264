import t from 'tap'
import { createAuthClient } from '../../client/dist/index.js'
import { startFakeWechat } from '../helper.js'
import { authError, Clock, device, serve } from '../helpers/client.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

t.test('a service that is down: login rejects NETWORK_ERROR after one attempt, shared by concurrent callers', async (t) => {
  const fake = await startFakeWechat(t)
  const proxy = new TcpProxy(1)
  const port = await proxy.listen(t)
  await proxy.cut()
  const wx = device({ fake })
  const auth = createAuthClient({ baseUrl: `http://127.0.0.1:${port}`, wx })
  await t.rejects(auth.request({ url: '/v1/me' }), authError('NETWORK_ERROR'))
  t.same(wx.calls, { login: 1, request: 1, checkSession: 0 })
  const results = await Promise.allSettled([auth.login(), auth.request({ url: '/v1/me' }), auth.request({ url: '/v1/me' })])
  t.match(results, Array(3).fill({ status: 'rejected', reason: authError('NETWORK_ERROR') }))
  t.same(wx.calls, { login: 2, request: 2, checkSession: 0 }, 'one wx.login and one login attempt for the three')
})

t.test('signed in, then the service goes down: one attempt per request, the session kept; back up, no login needed', async (t) => {
  const served = await serve(t)
  const proxy = new TcpProxy(Number(new URL(served.url).port))
  const port = await proxy.listen(t)
  const clock = new Clock()
  const wx = device(served)
  const auth = createAuthClient({ baseUrl: `http://127.0.0.1:${port}`, wx, now: clock.now })
  await auth.login()
  await proxy.cut()
  const sent = wx.calls.request

  await t.rejects(auth.request({ url: '/v1/me' }), authError('NETWORK_ERROR'))
  t.equal(wx.calls.request, sent + 1)
  clock.advance(15 * 60)
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => auth.request({ url: '/v1/me' })))
  t.match(results, Array(5).fill({ status: 'rejected', reason: authError('NETWORK_ERROR') }))
  t.equal(wx.calls.request, sent + 2, 'the expired token: one refresh attempt for the five, nothing else')
  t.equal(auth.isLoggedIn(), true, 'a network failure is no reason to drop the session')

  await proxy.restore()
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200)
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(wx.calls.login, 1)

  await proxy.cut()
  await t.rejects(auth.logout(), authError('NETWORK_ERROR'), 'the app learns the service did not hear the logout')
  t.equal(auth.isLoggedIn(), false, 'but the tokens are gone from the device')
  t.equal(wx.getStorageSync('weapp-auth'), '')
})
