import t from 'tap'
import { rowCounts } from '../helpers/auth.js'
import { client, Clock, device, liveSessions, restore, serve, stored } from '../helpers/client.js'

// What is read from storage is checked; two clients on one storage key (two
// pages that each created one, a plugin) and a full storage never make the
// service see a rotated refresh token again (it would revoke the session as theft).

t.test('attack: a stored refresh token of "" or 300 characters is dropped: the client logs in instead of failing FST_ERR_VALIDATION for ever', async (t) => {
  const served = await serve(t)
  const clock = new Clock()
  for (const refreshToken of ['', 'r'.repeat(300)]) {
    const wx = device(served)
    await client(served, wx, { now: clock.now }).login()
    restore(wx, { refreshToken })
    clock.advance(15 * 60)
    const auth = client(served, wx, { now: clock.now })
    const codes = []
    for (let i = 0; i < 3; i++) codes.push(await auth.request({ url: '/v1/me' }).then((res) => res.statusCode, (error: { code: string }) => error.code))
    t.same(codes, [200, 200, 200], `a refresh token of ${refreshToken.length} characters`)
    t.equal(wx.calls.login, 2, 'one login')
  }
  const wx = device(served)
  for (const garbage of [{ accessToken: 'not.a-jwt', refreshToken: 'rt_x', expiresAt: 'soon' }, { accessToken: 'x'.repeat(9000), refreshToken: 'rt_x', expiresAt: clock.ms + 1e6 }]) {
    wx.setStorageSync('weapp-auth', garbage)
    t.equal(client(served, wx, { now: clock.now }).isLoggedIn(), false)
  }
})

t.test('attack: two clients on one storage key: the second takes the pair the first rotated, and the session is not revoked as theft', async (t) => {
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const wx = device(served)
  const first = client(served, wx, { now: clock.now })
  await first.login()
  const second = client(served, device(served, 'alice', wx.storage), { now: clock.now })
  t.equal((await second.request({ url: '/v1/me' })).statusCode, 200)
  clock.advance(15 * 60)
  t.equal((await first.request({ url: '/v1/me' })).statusCode, 200, 'the first refreshes')
  t.equal((await second.request({ url: '/v1/me' })).statusCode, 200, 'the second uses what the first stored')
  clock.advance(15 * 60)
  t.equal((await second.request({ url: '/v1/me' })).statusCode, 200, 'the second refreshes')
  t.equal((await first.request({ url: '/v1/me' })).statusCode, 200, 'the first uses what the second stored')
  t.equal(served.hits('POST /v1/auth/refresh'), 2)
  t.equal(served.hits('POST /v1/auth/login'), 1)
  t.equal(await liveSessions(served), 1, 'one session, never revoked')
})

t.test('attack: a storage write failing after a refresh: the pair is kept in memory, reported, and the rotated one is never presented', async (t) => {
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const wx = device(served)
  const auth = client(served, wx, { now: clock.now })
  const events: unknown[] = []
  if (typeof auth.onChange === 'function') auth.onChange((event) => events.push(event))
  await auth.login()
  const rotated = stored(wx)
  clock.advance(15 * 60)
  wx.failStorageWrites = 1
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'the request is served')
  t.match(events, [{ type: 'signIn' }, { type: 'storageError', error: { code: 'STORAGE_FAILED' } }], 'the failed write reported')
  const left = stored(wx)
  t.ok(left === '' || (rotated !== '' && left.refreshToken !== rotated.refreshToken), 'the rotated refresh token is not left in storage')

  // A restart now finds no usable pair: it logs in rather than present the rotated token.
  const restarted = client(served, device(served, 'alice', wx.storage), { now: clock.now })
  t.equal((await restarted.request({ url: '/v1/me' })).statusCode, 200)
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'the first client goes on with the pair in memory')
  t.equal((await served.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_reason IS NOT NULL`)[0]!.n, 0, 'no session revoked')
  t.equal((await rowCounts(served.prisma)).sessions, 2)
})

t.test('attack: one client\'s storage write fails after a refresh, then the other client on the key expires: it does not present the rotated token', async (t) => {
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const wx = device(served)
  const first = client(served, wx, { now: clock.now })
  await first.login()
  const other = device(served, 'alice', wx.storage)
  const second = client(served, other, { now: clock.now })
  t.equal((await second.request({ url: '/v1/me' })).statusCode, 200)
  clock.advance(15 * 60)
  wx.failStorageWrites = 1
  t.equal((await first.request({ url: '/v1/me' })).statusCode, 200, 'the first refreshes; its write fails')
  t.equal((await second.request({ url: '/v1/me' })).statusCode, 200, 'the second is served')
  t.equal((await first.request({ url: '/v1/me' })).statusCode, 200, 'and the first still is')
  t.equal((await served.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_reason = 'refresh_reuse'`)[0]!.n, 0, 'no session revoked as theft')
})

t.test('attack: two clients on one key refreshing at the same moment, with no reuse grace at the service', { todo: 'not fixed: needs a lock in storage; the service\'s REFRESH_REUSE_GRACE (10 s by default) gives both the same successor' }, async (t) => {
  const served = await serve(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const clock = new Clock()
  const wx = device(served)
  const first = client(served, wx, { now: clock.now })
  await first.login()
  const second = client(served, device(served, 'alice', wx.storage), { now: clock.now })
  clock.advance(15 * 60)
  await Promise.all([first.request({ url: '/v1/me' }), second.request({ url: '/v1/me' })])
  t.equal((await served.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_reason = 'refresh_reuse'`)[0]!.n, 0, 'no session revoked as theft')
})
