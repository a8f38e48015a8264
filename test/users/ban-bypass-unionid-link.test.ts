import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, refresh } from '../helpers/auth.js'

// A banned person whose other mini-program was bound to the Open Platform after
// their first login there: that app's identity still belongs to an unbanned
// user (no unionid yet), so the login passes the ban check, opens a session,
// and only then links the identity (and the new session) to the banned user.
// The client gets 200 and a freshly signed access token for the banned user,
// which the team's own API (JWKS) and /v1/auth/session accept for its lifetime.

const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002', bound: false }
const apps = [APP, SECOND]
const env = { WECHAT_APPS: JSON.stringify([APP, SECOND]) }

t.test('attack: a banned user logs in through a unionid link made by that very login', async (t) => {
  const { app, fake, prisma } = await build(t, { apps, env })
  // Mallory first uses the unbound app (no unionid: user A), then the bound one (unionid U: user B).
  const first = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(SECOND.appid, 'mallory').code, appid: SECOND.appid } })
  t.equal(first.statusCode, 200)
  const main = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'mallory').code, appid: APP.appid } })
  t.equal(main.statusCode, 200)
  const banned = main.json().user.id as string
  t.not(first.json().user.id, banned, 'two users for now')
  // The admin bans the user Mallory spams with (B).
  await prisma.$executeRaw`UPDATE users SET disabled_at = now(), disabled_reason = 'spam' WHERE id = ${banned}::uuid`
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'mallory').code, appid: APP.appid } })).statusCode, 403, 'B is banned')

  // The second app is bound to the Open Platform; Mallory logs in there.
  fake.bind(SECOND.appid)
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(SECOND.appid, 'mallory').code, appid: SECOND.appid } })
  const [owner] = await prisma.$queryRaw<{ user_id: string }[]>`SELECT user_id::text FROM identities WHERE appid = ${SECOND.appid}`
  t.equal(owner!.user_id, banned, 'the link moved the identity to the banned user')
  t.equal(res.statusCode, 403, 'the login that leads to a banned user is refused')
  t.equal(res.json().code, 'USER_DISABLED')
  const [newest] = await prisma.$queryRaw<{ revoked_reason: string | null }[]>`SELECT revoked_reason FROM sessions ORDER BY created_at DESC LIMIT 1`
  t.equal(newest!.revoked_reason, 'user_disabled', 'the session this login opened is ended')
  const [moved] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${banned}::uuid AND revoked_at IS NULL`
  t.equal(moved!.n, 0, 'nor do the sessions the link moved to the banned user stay live (an unban would revive them)')
  if (res.statusCode === 200) {
    const body = res.json()
    t.equal(app.jwt.decode<{ sub: string }>(body.accessToken)!.sub, banned, 'a fresh access token signed for the banned user')
    const session = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(body.accessToken) })
    t.equal(session.statusCode, 200, '...which token-only verifiers accept')
    t.equal((await refresh(app, body.refreshToken)).statusCode, 403)
  }
})
