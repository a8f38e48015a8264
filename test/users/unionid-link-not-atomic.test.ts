import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, rowCounts } from '../helpers/auth.js'

// auth/service.ts record(): loginWrites.returning() commits the identity's new
// unionid (COALESCE(login.unionid, unionid)) in its own statement, THEN
// identities.linkUnionid() runs in a separate transaction. The link is only
// attempted while identity.unionid IS NULL. If the link transaction fails once
// (deadlock, serialization failure, lost connection, a failover...), the
// identity already carries the unionid, so no later login ever retries the
// link: the user never gets its unionid, and the same person's first login in
// another bound app creates a second user. One person, two users, forever.
// The failing login also answers 500 (a Prisma error), after having written a
// session the client never receives.

const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }

t.test('attack: one failed link transaction splits a person into two users for good', async (t) => {
  const first = { ...APP, bound: false }
  const { app, fake, prisma } = await build(t, { apps: [first, SECOND], env: { WECHAT_APPS: JSON.stringify([APP, SECOND]) } })
  const before = await login(app, fake, 'dora', APP.appid)
  t.equal(before.user.isNew, true)
  fake.bind(APP.appid)

  // A transient failure of the link transaction, once (40P01 as a deadlock would raise).
  await prisma.$executeRawUnsafe('CREATE SEQUENCE link_fail_once')
  await prisma.$executeRawUnsafe(`CREATE FUNCTION link_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN IF nextval('link_fail_once') = 1 THEN RAISE EXCEPTION 'deadlock detected (simulated)' USING ERRCODE = '40P01'; END IF; RETURN NEW; END $$`)
  await prisma.$executeRawUnsafe(`CREATE TRIGGER link_fail_once BEFORE UPDATE OF unionid ON users
    FOR EACH ROW WHEN (OLD.unionid IS NULL AND NEW.unionid IS NOT NULL) EXECUTE FUNCTION link_fail_once()`)

  const failed = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'dora').code, appid: APP.appid } })
  t.comment(`login during the failure: ${failed.statusCode} ${failed.body}`)
  t.match(await rowCounts(prisma), { sessions: 2 }, 'a session was written although the login failed')

  // The failure is over. Dora logs in again, and later opens the second (bound) mini-program.
  const again = await login(app, fake, 'dora', APP.appid)
  const other = await login(app, fake, 'dora', SECOND.appid)
  const me = (await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(again.accessToken) })).json()
  const [row] = await prisma.$queryRaw<{ identity_unionid: string | null, user_unionid: string | null }[]>`
    SELECT i.unionid AS identity_unionid, u.unionid AS user_unionid FROM identities i JOIN users u ON u.id = i.user_id WHERE i.appid = ${APP.appid}`
  t.comment(`identity.unionid=${row!.identity_unionid} user.unionid=${row!.user_unionid} hasUnionid=${me.hasUnionid}`)
  t.comment(`app 1 user ${again.user.id}, app 2 user ${other.user.id}`)
  t.not(failed.statusCode, 500, 'no 500 for a transient database error')
  // These assertions FAIL on cd7c1d9.
  t.equal(row!.user_unionid, fake.unionid('dora'), 'the link is completed by a later login')
  t.equal(other.user.id, again.user.id, 'one person, one user across the bound apps')
})
