import pg from 'pg'
import t from 'tap'
import { build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

// Logout-all ends every session of the user who owns the caller's session now.
// A unionid move (UserRepository.linkUnionid -> SessionRepository.moveToUser)
// re-owns sessions in its transaction; a logout-all that runs while it is open
// must not answer 204 and leave them, its own session among them, live.

t.test('attack: logout-all racing a unionid move of its sessions still ends them', async (t) => {
  const { app, fake, prisma, testDb } = await build(t)
  const first = await login(app, fake, 'hal')
  const second = await login(app, fake, 'hal')
  const owner = await login(app, fake, 'ivy') // the user the move joins hal's sessions to
  const merge = new pg.Client({ connectionString: testDb.url })
  await merge.connect()
  t.teardown(() => merge.end())
  const observer = new pg.Client({ connectionString: testDb.url })
  await observer.connect()
  t.teardown(() => observer.end())

  // moveToUser's statement, in a merge transaction that has not committed yet.
  await merge.query('BEGIN')
  await merge.query('UPDATE sessions SET user_id = $2::uuid WHERE user_id = $1::uuid', [first.user.id, owner.user.id])
  const pending = app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(first.accessToken) })
  for (;;) {
    const { rows } = await observer.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    if (rows[0]!.n > 0) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  await merge.query('COMMIT')

  // Failed before the fix: 204, and all three sessions (the caller's too) stayed live: its UPDATE re-checked
  // user_id on the moved rows against the owner it had read before the move, and skipped them.
  t.equal((await pending).statusCode, 204)
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sessions WHERE revoked_at IS NULL`
  t.equal(row!.n, 0, 'no session of the (merged) user is live')
  t.equal((await refresh(app, second.refreshToken)).json().code, 'SESSION_REVOKED', 'the other session of the caller is ended')
})
