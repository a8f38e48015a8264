import pg from 'pg'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/database.js'
import { createLogger } from '../../src/logger.js'
import { APP, build, startFakeWechat, testConfig, testDatabase } from '../helper.js'
import { bearer, login, rowCounts } from '../helpers/auth.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

/** Polls until `check` gives something (a state to wait for, not a deadline raced): what it gave. */
async function eventually<T> (check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const result = await check()
    if (result !== undefined && result !== false) return result
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error('condition not met in time')
}

t.test('database lost mid-run: 503 DATABASE_UNAVAILABLE, /readyz 503, token checks go on, recovery by itself', async (t) => {
  const testDb = await testDatabase(t)
  const target = new URL(testDb.url)
  const proxy = new TcpProxy(Number(target.port || 5432))
  target.port = String(await proxy.listen(t))
  const fake = await startFakeWechat(t)
  const url = target.toString()
  const app = await buildApp(testConfig(url, {}, fake.url), { db: openDatabase({ url, poolSize: 3 }), logger: createLogger('silent') })
  t.teardown(() => app.close())
  const directDb = openDatabase({ url: testDb.url, poolSize: 1 })
  t.teardown(() => directDb.close())
  const direct = directDb.prisma

  const alice = await login(app, fake, 'alice')
  await proxy.cut()

  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable', reason: 'database unreachable' })
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken) })
  t.match(me.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE', message: /try again shortly/ })
  const refresh = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })
  t.match(refresh.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
  const before = await rowCounts(direct)
  const { code } = fake.login(APP.appid, 'bob')
  const bob = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(bob.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
  // This login failed at its first read, before any write: see the next test for a write cut off half-way.
  t.same(await rowCounts(direct), before, 'a login that cannot reach the database writes nothing')
  const session = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(alice.accessToken) })
  t.equal(session.statusCode, 200, 'access tokens are still checked without the database')

  await proxy.restore()
  const restored = Date.now()
  await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200)
  t.comment(`recovered ${Date.now() - restored} ms after the database came back`)
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })).statusCode, 200, 'the refresh token was not consumed by the failed attempt')
})

t.test('the connection lost in the middle of a login\'s write: nothing half-written, first or returning login', async (t) => {
  const built = await build(t)
  const { app, fake, testDb } = built
  if (testDb.embedded) { t.plan(0, 'needs a PostgreSQL server: one backend to stop while another holds a lock'); return }
  const admin = new pg.Client({ connectionString: testDb.url })
  await admin.connect()
  t.teardown(() => admin.end())
  // The login is one statement writing identity, user, then the session holding the refresh token
  // (whose row comes from the identity's): a trigger on that last insert waits for a lock this test holds,
  // so the statement is stopped with its first rows already inserted, until this test kills its backend.
  await admin.query(`CREATE FUNCTION hold_token_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$`)
  await admin.query('CREATE TRIGGER hold_token_insert BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION hold_token_insert()')

  const alice = await login(app, fake, 'alice')
  const identity = async () => (await admin.query<{ session_key_enc: string, previous_session_key_enc: string | null }>('SELECT session_key_enc, previous_session_key_enc FROM identities')).rows
  const keysBefore = await identity()

  for (const user of ['bob', 'alice']) {
    const before = await rowCounts(built.prisma)
    await admin.query('SELECT pg_advisory_lock(4242)')
    const pending = app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, user).code } })
    // The backend waiting on the lock is inside the login statement, past its identity insert (or update).
    const pid = await eventually(async () => {
      const { rows } = await admin.query<{ pid: number, query: string }>(`SELECT a.pid, a.query FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid = 4242 AND NOT l.granted`)
      return rows[0]
    })
    t.match(pid.query, /INSERT INTO identities|UPDATE identities/, `${user}: stopped inside the login's write`)
    await admin.query('SELECT pg_terminate_backend($1)', [pid.pid])
    const res = await pending
    await admin.query('SELECT pg_advisory_unlock(4242)')
    t.match(res.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' }, `${user}: the login fails`)
    t.same(await rowCounts(built.prisma), before, `${user}: nothing half-written (no identity, user, session or token of it)`)
  }
  t.same(await identity(), keysBefore, "alice's stored session_key is the one before the failed login")
  await admin.query('DROP TRIGGER hold_token_insert ON sessions')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })).statusCode, 200, 'the pool recovers and her session is intact')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'bob').code } })).statusCode, 200, 'bob can log in afterwards')
})
