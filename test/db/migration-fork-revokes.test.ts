import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { hashRefreshToken } from '../../src/sessions/refresh-token.js'
import { newLegacyRefreshToken as newRefreshToken } from '../helpers/legacy-tokens.js'
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js'
import { build, testDatabase } from '../helper.js'
import { refresh } from '../helpers/auth.js'

// Before 20261122000000_one_refresh_chain, a reuse within the grace window
// minted a SECOND live refresh token: an honest client sending two refreshes at
// once (two requests that both met ACCESS_TOKEN_EXPIRED) got two tokens and kept
// whichever answer it processed last. The migration keeps only the NEWEST live
// token of each session and retires the others WITHOUT a successor. A client
// that kept the older one presents a retired token with no successor: the
// service takes it for theft and revokes the whole session (REFRESH_TOKEN_REUSED),
// even within the grace window. Every such session is logged out at its next
// refresh after the deploy; nothing tells the forks apart by who holds them.

t.test('attack: after the migration, an honest client holding the older fork is revoked', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  const initOnly = await mkdtemp(join(tmpdir(), 'weapp-init-'))
  t.teardown(() => rm(initOnly, { recursive: true, force: true }))
  await cp(join(MIGRATIONS_DIR, '20261121000000_init'), join(initOnly, '20261121000000_init'), { recursive: true })
  await migrate(testDb.url, initOnly)

  // The old code's fork: one session, two live tokens (the older kept by the client).
  const older = newRefreshToken()
  const newer = newRefreshToken()
  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  await client.query('INSERT INTO users (id) VALUES (\'00000000-0000-4000-8000-000000000001\')')
  await client.query('INSERT INTO wechat_identities (id, user_id, appid, openid, session_key_enc) VALUES (\'00000000-0000-4000-8000-000000000002\', \'00000000-0000-4000-8000-000000000001\', \'wxtest0000000001\', \'o-honest\', \'v1.x.y\')')
  await client.query('INSERT INTO sessions (id, user_id, identity_id, appid, expires_at) VALUES (\'00000000-0000-4000-8000-000000000003\', \'00000000-0000-4000-8000-000000000001\', \'00000000-0000-4000-8000-000000000002\', \'wxtest0000000001\', now() + interval \'30 days\')')
  await client.query('INSERT INTO refresh_tokens (session_id, token_hash, expires_at, created_at) VALUES (\'00000000-0000-4000-8000-000000000003\', $1, now() + interval \'30 days\', now() - interval \'1 second\'), (\'00000000-0000-4000-8000-000000000003\', $2, now() + interval \'30 days\', now())',
    [hashRefreshToken(older.token), hashRefreshToken(newer.token)])
  await client.end()

  await migrate(testDb.url) // the deploy
  const { app, prisma } = await build(t, { testDb })
  const res = await refresh(app, older.token)
  t.comment(`refresh with the token the client kept: ${res.statusCode} ${res.json().code ?? ''}`)
  const [session] = await prisma.$queryRaw<{ revoked_reason: string | null }[]>`SELECT revoked_reason FROM sessions`
  t.comment(`session revoked_reason: ${session!.revoked_reason}`)
  // Failed on cd7c1d9: the honest client's session is revoked as "refresh_reuse".
  t.equal(session!.revoked_reason, null, 'a fork made by the old code is not treated as theft')
})
