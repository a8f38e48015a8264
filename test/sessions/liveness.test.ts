import pg from 'pg'
import t from 'tap'
import { userState } from '../../src/sessions/liveness.js'
import { testDatabase } from '../helper.js'

// The ban trigger (users_ban_ends_sessions, in a migration) is the one place
// besides src/sessions/liveness.ts that knows when a user is banned. Every
// change of disabled_at between these values must end the user's sessions
// exactly when the statements' rule turns the user from usable to banned.

const VALUES = ['NULL', "now() - interval '1 day'", 'now()', "now() + interval '1 day'"]
const USER = '00000000-0000-4000-8000-000000000001'

t.test('the ban trigger ends sessions exactly when the liveness rule turns a user banned', async (t) => {
  const testDb = await testDatabase(t)
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query('INSERT INTO users (id) VALUES ($1)', [USER])
  const { rows: [identity] } = await client.query<{ id: string }>(
    "INSERT INTO identities (user_id, platform, appid, subject, subject_kind, session_key_enc) VALUES ($1, 'wechat', 'wxtest0000000001', 'o-liveness', 'openid', 'v1.x.y') RETURNING id", [USER])
  await client.query(`INSERT INTO sessions (user_id, identity_id, appid, expires_at, refresh_expires_at)
    VALUES ($1, $2, 'wxtest0000000001', now() + interval '1 day', now() + interval '1 hour')`, [USER, identity!.id])

  const banned = async (): Promise<boolean> =>
    (await client.query<{ user_disabled: boolean }>(`SELECT ${userState('u')} FROM users u WHERE u.id = $1`, [USER])).rows[0]!.user_disabled
  const ended = async (): Promise<boolean> =>
    (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL', [USER])).rows[0]!.n > 0

  for (const from of VALUES) {
    for (const to of VALUES) {
      await client.query(`UPDATE users SET disabled_at = ${from} WHERE id = $1`, [USER])
      await client.query('UPDATE sessions SET revoked_at = NULL, revoked_reason = NULL WHERE user_id = $1', [USER])
      const before = await banned()
      await client.query(`UPDATE users SET disabled_at = ${to} WHERE id = $1`, [USER])
      const after = await banned()
      t.equal(await ended(), !before && after, `disabled_at ${from} -> ${to}: usable ${!before} -> ${!after}`)
    }
  }
})
