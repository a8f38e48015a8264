import pg from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrate.js'
import { sealSuccessor } from '../../src/sessions/refresh-token.js'
import { build, testDatabase } from '../helper.js'
import { refresh } from '../helpers/auth.js'
import { newLegacyRefreshToken } from '../helpers/legacy-tokens.js'
import { migrateBefore } from '../helpers/migrations.js'

// A deploy of 20261206200000_refresh_on_session onto a database the previous
// scheme filled: its login and rotation SQL, verbatim (347a147), then the migration.

const SESSION = '00000000-0000-4000-8000-000000000003'
const OLD_LOGIN = `
  WITH s AS (
    INSERT INTO sessions (id, user_id, identity_id, appid, expires_at)
    VALUES ('${SESSION}', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'wxtest0000000001', now() + interval '30 days')
    RETURNING id, expires_at
  )
  INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
  SELECT s.id, $1, LEAST(now() + make_interval(secs => $2::int), s.expires_at) FROM s`
const OLD_ROTATE = `
  WITH s AS (
    SELECT s.id, s.user_id, s.appid, s.expires_at FROM sessions s
    WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1) AND s.revoked_at IS NULL AND s.expires_at > now()
      AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id AND u.disabled_at IS NOT NULL)
    FOR SHARE OF s
  ), old AS (
    UPDATE refresh_tokens rt SET retired_at = now(), successor_enc = $2, updated_at = now()
    FROM s
    WHERE rt.token_hash = $1 AND rt.session_id = s.id AND rt.retired_at IS NULL AND rt.expires_at > now()
    RETURNING rt.session_id, s.user_id, s.appid, s.expires_at AS session_expires_at
  ), fresh AS (
    INSERT INTO refresh_tokens (session_id, token_hash, expires_at)
    SELECT session_id, $3, LEAST(now() + make_interval(secs => $4::int), session_expires_at) FROM old
    RETURNING expires_at
  )
  SELECT old.session_id::text, old.user_id::text, old.appid, fresh.expires_at FROM old, fresh`

t.test('tokens of the previous scheme survive the migration: the live one rotates once into the new format, retired ones are still reuse', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  await migrateBefore(t, testDb.url, '20261206200000')

  const [t0, t1, t2] = [newLegacyRefreshToken(), newLegacyRefreshToken(), newLegacyRefreshToken()]
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  await client.query('INSERT INTO users (id) VALUES (\'00000000-0000-4000-8000-000000000001\')')
  await client.query('INSERT INTO wechat_identities (id, user_id, appid, openid, session_key_enc) VALUES (\'00000000-0000-4000-8000-000000000002\', \'00000000-0000-4000-8000-000000000001\', \'wxtest0000000001\', \'o-alice\', \'v1.x.y\')')
  await client.query(OLD_LOGIN, [t0.hash, 30 * 86400])
  t.equal((await client.query(OLD_ROTATE, [t0.hash, sealSuccessor(t0, t1.token), t1.hash, 30 * 86400])).rowCount, 1)
  t.equal((await client.query(OLD_ROTATE, [t1.hash, sealSuccessor(t1, t2.token), t2.hash, 30 * 86400])).rowCount, 1)
  // t0 was rotated an hour ago; t1 a moment ago (its grace window open); t2 is live.
  await client.query('UPDATE refresh_tokens SET retired_at = now() - interval \'1 hour\' WHERE token_hash = $1', [t0.hash])
  await client.end()

  await migrate(testDb.url) // the deploy
  const { app, prisma } = await build(t, { testDb, env: { REFRESH_REUSE_GRACE: '60' } })
  const [row] = await prisma.$queryRaw<{ refresh_expires_at: Date, live_expires_at: Date }[]>`
    SELECT s.refresh_expires_at, rt.expires_at AS live_expires_at FROM sessions s JOIN refresh_tokens rt ON rt.session_id = s.id AND rt.retired_at IS NULL`
  t.same(row!.refresh_expires_at, row!.live_expires_at, 'the session row takes its live token\'s expiry')

  const replay = await refresh(app, t1.token)
  t.equal(replay.json().refreshToken, t2.token, 'a grace-window replay of a token the previous code rotated gets its successor')

  const rotated = await refresh(app, t2.token)
  t.equal(rotated.statusCode, 200, 'the live token of the previous scheme rotates')
  const n1 = rotated.json().refreshToken as string
  t.match(n1, /^rt2\./, 'into the new format')
  t.equal((await refresh(app, t2.token)).json().refreshToken, n1, 'and its grace-window replay gets the same successor')
  const n2 = await refresh(app, n1)
  t.equal(n2.statusCode, 200, 'the new chain goes on')

  const [{ rows }] = await prisma.$queryRaw<{ rows: number }[]>`SELECT count(*)::int AS rows FROM refresh_tokens` as [{ rows: number }]
  t.equal(rows, 3, 'the previous rows stay until they expire; nothing was inserted')

  const reuse = await refresh(app, t0.token)
  t.match(reuse.json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' }, 'an old retired token is still recognised as reuse')
  const [session] = await prisma.$queryRaw<{ revoked_reason: string | null }[]>`SELECT revoked_reason FROM sessions`
  t.equal(session!.revoked_reason, 'refresh_reuse')
  t.match((await refresh(app, n2.json().refreshToken)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'the new chain ends with its session')
})

t.test('a retired token of the previous scheme, after the session rotated into the new one and past the window, is reuse', async (t) => {
  const testDb = await testDatabase(t)
  const { app, prisma } = await build(t, { testDb, env: { REFRESH_REUSE_GRACE: '0' } })
  const live = newLegacyRefreshToken()
  await prisma.$executeRaw`INSERT INTO users (id) VALUES ('00000000-0000-4000-8000-000000000001')`
  await prisma.$executeRaw`INSERT INTO identities (id, user_id, platform, appid, subject, subject_kind, session_key_enc) VALUES ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000001', 'wechat', 'wxtest0000000001', 'o-bob', 'openid', 'v1.x.y')`
  await prisma.$executeRaw`INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, refresh_expires_at)
    VALUES (${SESSION}::uuid, '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', 'wxtest0000000001', now() + interval '30 days', now() + interval '30 days')`
  await prisma.$executeRaw`INSERT INTO refresh_tokens (session_id, token_hash, expires_at) VALUES (${SESSION}::uuid, ${live.hash}, now() + interval '30 days')`
  t.equal((await refresh(app, live.token)).statusCode, 200)
  t.match((await refresh(app, live.token)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' })
})
