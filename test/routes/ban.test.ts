import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, post, refresh, rowCounts } from '../helpers/auth.js'

// An admin bans a user by setting users.disabled_at (in Studio or SQL). Every
// route that reads the database refuses at once with 403 USER_DISABLED; the
// routes that trust the access token alone stop within its lifetime.

type Built = Awaited<ReturnType<typeof build>>
const ban = (prisma: Built['prisma'], userId: string) =>
  prisma.$executeRaw`UPDATE users SET disabled_at = now(), disabled_reason = 'spam' WHERE id = ${userId}::uuid`
const unban = (prisma: Built['prisma'], userId: string) =>
  prisma.$executeRaw`UPDATE users SET disabled_at = NULL, disabled_reason = NULL WHERE id = ${userId}::uuid`

t.test('a banned user cannot log in: 403 USER_DISABLED, no session opened, session_key left as it was', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await ban(prisma, alice.user.id)
  const before = await rowCounts(prisma)
  const [keyBefore] = await prisma.$queryRaw<{ session_key_enc: string }[]>`SELECT session_key_enc FROM identities`
  const { code } = fake.login(APP.appid, 'alice')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(res.statusCode, 403)
  t.match(res.json(), { code: 'USER_DISABLED', message: /disabled/ })
  t.same(await rowCounts(prisma), before, 'nothing written')
  const [keyAfter] = await prisma.$queryRaw<{ session_key_enc: string }[]>`SELECT session_key_enc FROM identities`
  t.equal(keyAfter!.session_key_enc, keyBefore!.session_key_enc)
})

t.test('a banned user\'s refresh answers 403 USER_DISABLED and ends the session; unbanned, it stays ended', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await ban(prisma, alice.user.id)
  const res = await refresh(app, alice.refreshToken)
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'USER_DISABLED')
  const [session] = await prisma.$queryRaw<{ revoked_reason: string | null, live_tokens: number }[]>`
    SELECT revoked_reason, (SELECT count(*)::int FROM sessions WHERE revoked_at IS NULL) AS live_tokens FROM sessions`
  t.same(session, { revoked_reason: 'user_disabled', live_tokens: 0 })
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'USER_DISABLED', 'again: still 403 while banned')
  await unban(prisma, alice.user.id)
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'SESSION_REVOKED', 'the ended session does not come back')
})

t.test('a retired refresh token of a banned user, inside its grace window, gets no successor', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  t.equal((await refresh(app, alice.refreshToken)).statusCode, 200)
  await ban(prisma, alice.user.id)
  const res = await refresh(app, alice.refreshToken)
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'USER_DISABLED')
  const [row] = await prisma.$queryRaw<{ revoked: number }[]>`SELECT count(*)::int AS revoked FROM sessions WHERE revoked_reason = 'user_disabled'`
  t.equal(row!.revoked, 1)
})

t.test('every route that reads the database answers 403 USER_DISABLED; token-only routes stop within the access-token lifetime', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  const info = fake.userInfo(APP.appid, 'alice', { nickName: 'A' })
  const phoneCode = fake.phoneCode(APP.appid, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  await ban(prisma, alice.user.id)
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken) })
  t.equal(me.statusCode, 403)
  t.equal(me.json().code, 'USER_DISABLED')
  const calls = fake.callCount('/wxa/business/getuserphonenumber')
  for (const [url, body] of [
    ['/v1/auth/decrypt', { encryptedData: info.encryptedData, iv: info.iv }],
    ['/v1/auth/verify', { rawData: info.rawData, signature: info.signature }],
    ['/v1/auth/phone', { code: phoneCode }]
  ] as const) {
    const res = await post(app, url, alice.accessToken, body)
    t.equal(res.statusCode, 403, url)
    t.equal(res.json().code, 'USER_DISABLED', url)
  }
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), calls, 'the phone code was not spent at WeChat')
  const [user] = await prisma.$queryRaw<{ nickname: string | null, phone: string | null }[]>`SELECT nickname, phone_number AS phone FROM users`
  t.same(user, { nickname: null, phone: null }, 'no profile written for a banned user')
  const session = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(alice.accessToken) })
  t.equal(session.statusCode, 200, '/v1/auth/session trusts the token alone, until it expires')
})

t.test('the ban is lifted by clearing disabled_at: a new login works, other users were never affected', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  const bob = await login(app, fake, 'bob')
  await ban(prisma, alice.user.id)
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(bob.accessToken) })).statusCode, 200, 'bob is not banned')
  t.equal((await refresh(app, bob.refreshToken)).statusCode, 200)
  await unban(prisma, alice.user.id)
  const again = await login(app, fake, 'alice')
  t.equal(again.user.id, alice.user.id, 'the same account')
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(again.accessToken) })).statusCode, 200)
  t.equal((await refresh(app, again.refreshToken)).statusCode, 200)
})

t.test('a first login whose unionid belongs to a banned user is refused and links nothing', async (t) => {
  const other = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
  const { app, fake, prisma } = await build(t, {
    apps: [APP, other],
    env: { WECHAT_APPS: JSON.stringify([APP, other]) }
  })
  const alice = await login(app, fake, 'alice')
  await ban(prisma, alice.user.id)
  const { code } = fake.login(other.appid, 'alice')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid: other.appid } })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'USER_DISABLED')
  const counts = await rowCounts(prisma)
  t.match(counts, { users: 1, identities: 1, sessions: 1 }, 'no identity attached in the other app, no new user')
})
