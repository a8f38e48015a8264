import { randomUUID } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { migrate } from '../../src/db/migrate.js'
import { RefreshTokens } from '../../src/sessions/refresh-token.js'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, VAULT_KEYS, build, startFakeWechat, testDatabase } from '../helper.js'
import { bearer, login, me, refresh, rowCounts } from '../helpers/auth.js'
import { newLegacyRefreshToken } from '../helpers/legacy-tokens.js'
import { migrateBefore } from '../helpers/migrations.js'

// A deploy of 20261207000000_platform_identities onto a database the previous
// release filled: its first-login statement verbatim (d28fded, the session
// CTEs of openSessionSql expanded), and a session of the refresh-token scheme
// before that, then the migration. Every WeChat row, session and token keeps working.

const MIGRATION = '20261207000000_platform_identities'
const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
const THIRD = { appid: 'wxtest0000000003', secret: 'test-secret-0003' }
const apps = [APP, SECOND, THIRD]
const DAY = 86400

const OLD_LOGIN_FIRST = `
  WITH owner AS (
    SELECT id, disabled_at IS NOT NULL AS disabled FROM users WHERE unionid = $5 FOR SHARE
  ), i AS (
    INSERT INTO wechat_identities (id, user_id, appid, openid, unionid, session_key_enc)
    SELECT $1::uuid, COALESCE((SELECT id FROM owner), $2::uuid), $3, $4, $5, $6
    WHERE NOT EXISTS (SELECT 1 FROM owner WHERE disabled)
    ON CONFLICT (appid, openid) DO NOTHING
    RETURNING id, user_id
  ), u AS (
    INSERT INTO users (id, unionid) SELECT user_id, $5 FROM i WHERE user_id = $2::uuid
    ON CONFLICT DO NOTHING
    RETURNING id
  ), s AS (
    INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, refresh_hash, refresh_expires_at)
    SELECT $7::uuid, i.user_id, i.id, $3, now() + make_interval(secs => $8::int),
           $9, LEAST(now() + make_interval(secs => $10::int), now() + make_interval(secs => $8::int)) FROM i
    RETURNING id, expires_at, refresh_expires_at
  ), t AS (
    SELECT refresh_expires_at AS expires_at FROM s
  )
  SELECT i.user_id::text AS user_id, i.id::text AS identity_id, t.expires_at, s.expires_at AS session_expires_at,
         EXISTS (SELECT 1 FROM u) AS user_inserted, EXISTS (SELECT 1 FROM owner WHERE disabled) AS user_disabled
  FROM (SELECT 1) one LEFT JOIN i ON true LEFT JOIN s ON true LEFT JOIN t ON true`

t.test('identities written by the previous release: their sessions, tokens, session_keys and unionids work after the migration', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  await migrateBefore(t, testDb.url, MIGRATION)
  const fake = await startFakeWechat(t, apps)
  const keys = parseVaultKeys(VAULT_KEYS)
  const vault = new SessionKeyVault(keys)
  const tokens = new RefreshTokens(keys)

  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  /** The previous release's first login of `user` at `appid`, after wx.login at the fake: its user and refresh token. */
  const oldLogin = async (appid: string, user: string, unionid?: string) => {
    const { openid } = fake.login(appid, user)
    const identityId = randomUUID()
    const sessionId = randomUUID()
    const issued = tokens.issue(sessionId, 0)
    const { rows: [row] } = await client.query<{ user_id: string, identity_id: string }>(OLD_LOGIN_FIRST, [
      identityId, randomUUID(), appid, openid, unionid ?? null, vault.encrypt(fake.sessionKey(appid, user)!, identityId),
      sessionId, 30 * DAY, issued.hash, 30 * DAY
    ])
    t.equal(row!.identity_id, identityId, `the previous release logged ${user} in at ${appid}`)
    return { userId: row!.user_id, refreshToken: issued.token }
  }
  const alice = await oldLogin(APP.appid, 'alice', fake.unionid('alice'))
  const aliceSecond = await oldLogin(SECOND.appid, 'alice', fake.unionid('alice'))
  t.equal(aliceSecond.userId, alice.userId, 'the previous release joined alice\'s two apps by unionid')
  const bob = await oldLogin(APP.appid, 'bob')
  // And a session of the refresh-token scheme before that: its live token a refresh_tokens row.
  const legacy = newLegacyRefreshToken()
  const { rows: [bobIdentity] } = await client.query<{ id: string }>('SELECT id FROM wechat_identities WHERE user_id = $1', [bob.userId])
  const { rows: [legacySession] } = await client.query<{ id: string }>(`INSERT INTO sessions (user_id, identity_id, appid, expires_at, refresh_expires_at)
    VALUES ($1, $2, $3, now() + interval '30 days', now() + interval '30 days') RETURNING id`, [bob.userId, bobIdentity!.id, APP.appid])
  await client.query('INSERT INTO refresh_tokens (session_id, token_hash, expires_at) VALUES ($1, $2, now() + interval \'30 days\')', [legacySession!.id, legacy.hash])

  t.same((await migrate(testDb.url)).applied, [MIGRATION], 'the deploy applies this migration')
  const { app, prisma } = await build(t, { testDb, fake, env: { WECHAT_APPS: JSON.stringify(apps) } })

  const rotated = await refresh(app, alice.refreshToken)
  t.equal(rotated.statusCode, 200, 'a refresh token issued before the migration rotates')
  const accessToken = rotated.json().accessToken as string
  const openid = fake.openid(APP.appid, 'alice')
  t.match(await me(app, accessToken), { id: alice.userId, appid: APP.appid, platform: 'wechat', subject: openid, subjectKind: 'openid', openid, hasUnionid: true },
    '/v1/me shows the platform and subject, and the openid as before')
  const info = fake.userInfo(APP.appid, 'alice', { nickName: 'Alice' })
  const decrypted = await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(accessToken), payload: { encryptedData: info.encryptedData, iv: info.iv } })
  t.equal(decrypted.statusCode, 200, 'the session_key sealed before the migration still opens (the row kept its id)')
  t.equal((await refresh(app, aliceSecond.refreshToken)).statusCode, 200, 'so does the session of the second app')
  const bobRotated = await refresh(app, legacy.token)
  t.equal(bobRotated.statusCode, 200, 'and a token of the scheme before that')
  t.match(await me(app, bobRotated.json().accessToken), { id: bob.userId, platform: 'wechat', subject: fake.openid(APP.appid, 'bob'), hasUnionid: false })
  t.equal((await refresh(app, bob.refreshToken)).statusCode, 200)

  t.same((await login(app, fake, 'alice')).user, { id: alice.userId, isNew: false }, 'a new login of the same openid finds the same user')
  t.same((await login(app, fake, 'alice', THIRD.appid)).user, { id: alice.userId, isNew: false }, 'a first login at another app joins her user by its WeChat unionid')
  t.match(await rowCounts(prisma), { users: 2, identities: 4 })
  t.same(await prisma.$queryRaw`SELECT DISTINCT platform, subject_kind FROM identities`, [{ platform: 'wechat', subject_kind: 'openid' }])
  t.same(await prisma.$queryRaw`SELECT id::text, union_platform FROM users ORDER BY unionid NULLS LAST`,
    [{ id: alice.userId, union_platform: 'wechat' }, { id: bob.userId, union_platform: null }], 'the unionid backfilled as WeChat\'s, and only where there is one')

  // The ban trigger still ends every session of the user, the sessions of before the migration included.
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${alice.userId}::uuid`
  t.same(await prisma.$queryRaw`SELECT DISTINCT revoked_reason FROM sessions WHERE user_id = ${alice.userId}::uuid`, [{ revoked_reason: 'user_disabled' }])
  t.match((await refresh(app, rotated.json().refreshToken)).json(), { statusCode: 403, code: 'USER_DISABLED' })
})

t.test('the database refuses identities and unionids outside the model', async (t) => {
  const testDb = await testDatabase(t)
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  const { rows: [user] } = await client.query<{ id: string }>('INSERT INTO users DEFAULT VALUES RETURNING id')
  const identity = (platform: string | null, kind: string) => client.query(
    'INSERT INTO identities (user_id, platform, appid, subject, subject_kind) VALUES ($1, $2, \'app\', \'subject\', $3)', [user!.id, platform, kind])
  await t.rejects(identity('myspace', 'openid'), { code: '23514' }, 'a platform outside the six')
  await t.rejects(identity('douyin', 'anonymous_openid'), { code: '23514' }, 'a subject kind outside the three (Douyin\'s anonymous_openid is no identity)')
  await t.rejects(identity(null, 'openid'), { code: '23502' }, 'no platform: no default picks one')
  await identity('alipay', 'user_id')
  t.same((await client.query('SELECT session_key_enc FROM identities')).rows, [{ session_key_enc: null }], 'an identity without a session_key (Alipay)')
  await t.rejects(identity('alipay', 'user_id'), { code: '23505' }, 'the same (platform, appid, subject) twice')

  const unionid = (value: string | null, platform: string | null) => client.query('UPDATE users SET unionid = $2, union_platform = $3 WHERE id = $1', [user!.id, value, platform])
  await t.rejects(unionid('u-1', null), { code: '23514' }, 'a unionid without its platform')
  await t.rejects(unionid(null, 'wechat'), { code: '23514' }, 'a platform without a unionid')
  await unionid('u-1', 'wechat')
  const { rows: [other] } = await client.query<{ id: string }>('INSERT INTO users (unionid, union_platform) VALUES (\'u-1\', \'douyin\') RETURNING id')
  t.ok(other, 'the same unionid string under another platform is another user')
  await t.rejects(client.query('INSERT INTO users (unionid, union_platform) VALUES (\'u-1\', \'douyin\')'), { code: '23505' }, 'and once per platform')
})
