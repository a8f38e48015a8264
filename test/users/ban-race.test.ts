import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import t, { type Test } from 'tap'
import { FakeWechat } from '../../src/dev/fake-wechat.js'
import { APP, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

// A ban (users.disabled_at set in Studio or SQL) ends every session of the user
// through a trigger that runs at UPDATE. A login made while the ban is being
// written must not open a session that outlives it: lifting the ban later must
// revive nothing, so a session created while a ban was in force is never live.

type Built = Awaited<ReturnType<typeof build>>

const loginRequest = (app: Built['app'], code: string) =>
  app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid: APP.appid } })

async function unrevokedSessions (prisma: Built['prisma'], userId: string): Promise<number> {
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${userId}::uuid AND revoked_at IS NULL`
  return row!.n
}

/**
 * Until `pending` settles or a backend waits on a lock `holder`'s open
 * transaction holds (the login queued behind the ban). Any lock wait of the
 * database was not enough: another wait (the service's own) let the test lift
 * the ban before the login reached the user row, 1 run in 4.
 */
async function settledOrWaiting (pending: Promise<unknown>, observer: pg.Client, holder: pg.Client): Promise<void> {
  let settled = false
  pending.finally(() => { settled = true }).catch(() => {})
  const { rows: [me] } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  for (;;) {
    const { rows } = await observer.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))', [me!.pid])
    if (settled || rows[0]!.n > 0) return
    await sleep(10)
  }
}

async function connect (t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

/** A login sent while an admin's ban of `userId` is open in a transaction; the ban is then committed and lifted. */
async function loginDuringUncommittedBan (t: Test, app: Built['app'], url: string, userId: string, code: string) {
  const admin = await connect(t, url)
  const observer = await connect(t, url)
  await admin.query('BEGIN')
  await admin.query("UPDATE users SET disabled_at = now(), disabled_reason = 'hijacked' WHERE id = $1::uuid", [userId])
  const pending = loginRequest(app, code)
  await settledOrWaiting(pending, observer, admin)
  await admin.query('COMMIT')
  // The lift waits for the login to answer: lifted at once, the lift could take
  // the row before the queued login did, and the login would then rightly see
  // no ban (ban, lift, login is a serial order), 1 run in about 30 under load.
  const res = await pending
  await admin.query('UPDATE users SET disabled_at = NULL, disabled_reason = NULL WHERE id = $1::uuid', [userId])
  return res
}

t.test('attack: a login made while a ban is uncommitted is not live once the ban is lifted', async (t) => {
  const { app, fake, prisma, testDb } = await build(t)
  const alice = await login(app, fake, 'alice')
  const userId = alice.user.id
  const pending = loginDuringUncommittedBan(t, app, testDb.url, userId, fake.login(APP.appid, 'alice').code)

  // Failed on 347a147: the login answered 200 at once, and after the lift /v1/me and refresh answered 200.
  const res = await pending
  t.equal(res.statusCode, 403, 'the login made during the ban is refused')
  t.equal(res.json().code, 'USER_DISABLED')
  if (res.statusCode === 200) {
    const body = res.json<{ accessToken: string, refreshToken: string }>()
    t.not((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(body.accessToken) })).statusCode, 200, '/v1/me refuses its session')
    t.not((await refresh(app, body.refreshToken)).statusCode, 200, 'refresh refuses its session')
  }
  t.equal(await unrevokedSessions(prisma, userId), 0, 'no session of the user outlived the ban')
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'SESSION_REVOKED', 'the one from before the ban stays ended')
  t.equal((await loginRequest(app, fake.login(APP.appid, 'alice').code)).statusCode, 200, 'once lifted, a new login works')
})

t.test('attack: autocommit bans racing bursts of logins and refreshes leave no session alive', async (t) => {
  // The fake WeChat answers 100 logins of one user a minute: each round is a minute later on its clock.
  let minutes = 0
  const fake = new FakeWechat([APP], () => Date.now() + minutes * 61_000)
  await fake.listen()
  t.teardown(() => fake.close())
  const { app, prisma, testDb } = await build(t, { fake })
  const admin = await connect(t, testDb.url)
  const userId = (await login(app, fake, 'bob')).user.id
  const rounds = 8
  const burst = 24
  let survivors = 0
  let refused = 0
  for (let round = 0; round < rounds; round++, minutes++) {
    const before = await login(app, fake, 'bob')
    const codes = Array.from({ length: burst }, () => fake.login(APP.appid, 'bob').code)
    const requests = codes.map((code, i) => i % 6 === 0 ? refresh(app, before.refreshToken) : loginRequest(app, code))
    // The ban lands once the logins reach the database: when the first of them has answered.
    await Promise.race(requests.filter((_, i) => i % 6 !== 0))
    await admin.query("UPDATE users SET disabled_at = now(), disabled_reason = 'spam' WHERE id = $1::uuid", [userId])
    const answers = await Promise.all(requests)
    refused += answers.filter((res) => res.statusCode === 403).length
    await prisma.$executeRaw`UPDATE users SET disabled_at = NULL, disabled_reason = NULL WHERE id = ${userId}::uuid`
    survivors += await unrevokedSessions(prisma, userId)
    await prisma.$executeRaw`UPDATE sessions SET revoked_at = now(), revoked_reason = 'test' WHERE user_id = ${userId}::uuid AND revoked_at IS NULL`
  }
  // Failed on 347a147: 35 to 41 sessions survived the 8 bans (3 runs).
  t.equal(survivors, 0, `sessions alive after ${rounds} bans were lifted`)
  t.ok(refused > 0, `the bans landed inside the bursts (${refused} requests refused)`)
})

const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
const twoApps = { apps: [{ ...APP, bound: false }, SECOND], env: { WECHAT_APPS: JSON.stringify([APP, SECOND]) } }

/**
 * One person as two users: A, logged in on the first app before it was bound (no unionid), and
 * B, who has the person's unionid from the second app. The first app is then bound, so A's next
 * login links its identity to B and empties A.
 */
async function onePersonTwoUsers (app: Built['app'], fake: Built['fake'], name: string): Promise<{ emptied: string, owner: string }> {
  const emptied = (await login(app, fake, name, APP.appid)).user.id
  const owner = (await login(app, fake, name, SECOND.appid)).user.id
  fake.bind(APP.appid)
  return { emptied, owner }
}

t.test('logins of one identity that all link its unionid at once succeed: user row, then identity, in both', async (t) => {
  const { app, fake } = await build(t, twoApps)
  await login(app, fake, 'dora', APP.appid)
  fake.bind(APP.appid)
  const answers = await Promise.all(Array.from({ length: 12 }, () => loginRequest(app, fake.login(APP.appid, 'dora').code)))
  t.same(answers.map((res) => res.statusCode), answers.map(() => 200), answers.filter((res) => res.statusCode !== 200).map((res) => res.body).join('\n'))
})

t.test('attack: a link that moves a login onto a user whose ban is uncommitted leaves nothing live', async (t) => {
  const { app, fake, prisma, testDb } = await build(t, twoApps)
  const { owner } = await onePersonTwoUsers(app, fake, 'erin')
  const pending = loginDuringUncommittedBan(t, app, testDb.url, owner, fake.login(APP.appid, 'erin').code)

  // Failed with only the login statement locking: 200, /v1/me 200 (the link re-read the ban after it was lifted).
  const res = await pending
  t.equal(res.statusCode, 403, 'the login that joined the banned user is refused')
  if (res.statusCode === 200) {
    t.not((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(res.json<{ accessToken: string }>().accessToken) })).statusCode, 200, '/v1/me refuses its session')
  }
  t.equal(await unrevokedSessions(prisma, owner), 0, 'no session of the user outlived the ban')
})

t.test('attack: a ban of the user a link empties, committed before the link locks it, is not erased by the merge', async (t) => {
  const { app, fake, prisma, testDb } = await build(t, twoApps)
  const { emptied: banned, owner } = await onePersonTwoUsers(app, fake, 'fay')
  const admin = await connect(t, testDb.url)
  const observer = await connect(t, testDb.url)

  // The admin share-locks A: the login statement (FOR SHARE) passes, the link's FOR UPDATE of A queues behind it.
  await admin.query('BEGIN')
  await admin.query('SELECT 1 FROM users WHERE id = $1::uuid FOR SHARE', [banned])
  const pending = loginRequest(app, fake.login(APP.appid, 'fay').code)
  await settledOrWaiting(pending, observer, admin)
  // The ban of A lands after the login opened its session and before the link reads A.
  await admin.query("UPDATE users SET disabled_at = now(), disabled_reason = 'hijacked' WHERE id = $1::uuid", [banned])
  await admin.query('COMMIT')

  // Failed before the fix: 200, A (and its ban) deleted, fay's identity moved to unbanned B: the next login got 200.
  const res = await pending
  t.equal(res.statusCode, 403, 'the login whose user was banned under it is refused')
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM users WHERE id = ${banned}::uuid AND disabled_at IS NOT NULL`
  t.equal(row!.n, 1, 'the banned user and its ban are kept')
  t.equal((await loginRequest(app, fake.login(APP.appid, 'fay').code)).statusCode, 403, 'the banned identity stays banned')
  t.equal(await unrevokedSessions(prisma, owner) >= 1, true, 'B keeps its own session')
})

t.test('attack: logins of one identity that all merge it into the user of its unionid at once succeed', async (t) => {
  const { app, fake, prisma } = await build(t, twoApps)
  const { emptied: merged, owner } = await onePersonTwoUsers(app, fake, 'gus')
  const answers = await Promise.all(Array.from({ length: 12 }, () => loginRequest(app, fake.login(APP.appid, 'gus').code)))
  // Failed before the fix: the links queued behind the first one found A deleted, merged again and answered 500 (P2025).
  t.same(answers.map((res) => res.statusCode), answers.map(() => 200), answers.filter((res) => res.statusCode !== 200).map((res) => res.body).join('\n'))
  t.same([...new Set(answers.filter((res) => res.statusCode === 200).map((res) => res.json().user.id))], [owner], 'every login is B\'s')
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE user_id = ${merged}::uuid`
  t.equal(row!.n, 0, 'no session is left with the removed user')
})

t.test('attack: a ban of the user a link empties, queued behind the link, is not lost with that user', {
  todo: 'not fixed: the merge deletes the emptied user, so a ban that waited on it updates 0 rows and the person goes on as the unbanned owner; the ban would have to follow the merge (e.g. an admin ban by identity, or a trigger refusing to delete a user a ban waits on), a design choice'
}, async (t) => {
  const { app, fake, testDb } = await build(t, twoApps)
  const { emptied } = await onePersonTwoUsers(app, fake, 'hank')
  const holder = await connect(t, testDb.url)
  const admin = await connect(t, testDb.url)
  const observer = await connect(t, testDb.url)

  // The link's FOR UPDATE of A queues behind a share lock; the admin's ban of A then queues behind the link.
  await holder.query('BEGIN')
  await holder.query('SELECT 1 FROM users WHERE id = $1::uuid FOR SHARE', [emptied])
  const pending = loginRequest(app, fake.login(APP.appid, 'hank').code)
  await settledOrWaiting(pending, observer, holder)
  const ban = admin.query("UPDATE users SET disabled_at = now(), disabled_reason = 'spam' WHERE id = $1::uuid", [emptied])
  for (;;) {
    const { rows } = await observer.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    if (rows[0]!.n >= 2) break
    await sleep(10)
  }
  await holder.query('COMMIT')
  await pending
  // Fails today: the ban updated 0 rows (A was deleted by the merge), and hank logs in at both apps as B.
  t.equal((await ban).rowCount, 1, 'the ban landed on a user')
  t.equal((await loginRequest(app, fake.login(APP.appid, 'hank').code)).statusCode, 403, 'the banned identity stays banned')
})
