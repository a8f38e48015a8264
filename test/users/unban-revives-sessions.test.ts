import t from 'tap'
import { build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

// A ban ends a session only when that session's refresh token is presented
// during the ban. Every session that stayed quiet through the ban (a thief's,
// the one the spam came from, a phone left in a drawer) comes back to life,
// refresh token and access token alike, the moment the ban is lifted, although
// docs/operations.md says lifting it "restores access with a new login". An admin who
// bans a hijacked account and lifts the ban for its owner hands it back to the
// hijacker.

t.test('attack: sessions that were quiet during a ban work again once it is lifted', async (t) => {
  const { app, fake, prisma } = await build(t)
  const owner = await login(app, fake, 'alice')
  const thief = await login(app, fake, 'alice') // a second session of the same user, e.g. a hijacked device
  const userId = owner.user.id
  await prisma.$executeRaw`UPDATE users SET disabled_at = now(), disabled_reason = 'hijacked' WHERE id = ${userId}::uuid`
  // The thief's client sees 403 on /v1/me and stops (403 is not "refresh me").
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(thief.accessToken) })).statusCode, 403)
  // The owner is told to log in again after the ban is lifted.
  await prisma.$executeRaw`UPDATE users SET disabled_at = NULL, disabled_reason = NULL WHERE id = ${userId}::uuid`
  const again = await refresh(app, thief.refreshToken)
  t.not(again.statusCode, 200, "the thief's pre-ban refresh token does not work after the ban is lifted")
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(thief.accessToken) })
  t.not(me.statusCode, 200, 'nor its pre-ban access token on the routes that read the database')
  const [row] = await prisma.$queryRaw<{ live: number }[]>`SELECT count(*)::int AS live FROM sessions WHERE user_id = ${userId}::uuid AND revoked_at IS NULL`
  t.equal(row!.live, 0, 'the ban ended every session of the user')
})
