import t from 'tap'
import type { PrismaClient as Db } from '../../src/generated/prisma/client.js'
import { build } from '../helper.js'
import { liveRefreshTokens as liveTokens, login, refresh } from '../helpers/auth.js'

/** As if the grace window had passed since every rotation so far. */
const graceOver = (prisma: Db) => prisma.$executeRaw`UPDATE sessions SET refresh_retired_at = refresh_retired_at - interval '1 hour' WHERE refresh_retired_at IS NOT NULL`

t.test('attack: a replay within the grace window gets the successor the owner got, not a chain of its own', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const owner = (await refresh(app, first.refreshToken)).json()
  const thief = await refresh(app, first.refreshToken)
  t.equal(thief.statusCode, 200)
  t.equal(thief.json().refreshToken, owner.refreshToken, 'the same successor')
  t.equal(await liveTokens(prisma), 1, 'one live refresh token in the session')

  // Both now hold one token: the second to use it after the window is caught.
  t.equal((await refresh(app, owner.refreshToken)).statusCode, 200)
  await graceOver(prisma)
  t.match((await refresh(app, owner.refreshToken)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' })
  const [session] = await prisma.$queryRaw<{ revoked_reason: string | null }[]>`SELECT revoked_reason FROM sessions`
  t.equal(session!.revoked_reason, 'refresh_reuse')
})

t.test('attack: 15 parallel uses of one token leave one live chain, and all 15 succeed', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const results = await Promise.all(Array.from({ length: 15 }, () => refresh(app, first.refreshToken)))
  t.same(results.map((r) => r.statusCode), Array(15).fill(200))
  t.equal(new Set(results.map((r) => r.json().refreshToken)).size, 1, 'one successor, handed to every caller')
  t.equal(await liveTokens(prisma), 1)
})

t.test('attack: a replay of a token two rotations old is theft even within the grace window', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const second = (await refresh(app, first.refreshToken)).json()
  const third = (await refresh(app, second.refreshToken)).json()
  const replay = await refresh(app, first.refreshToken)
  t.match(replay.json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' })
  t.match((await refresh(app, third.refreshToken)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'the live end of the chain dies with it')
  const [row] = await prisma.$queryRaw<{ generation: number, rows: number }[]>`SELECT refresh_generation AS generation, (SELECT count(*)::int FROM refresh_tokens) AS rows FROM sessions`
  t.same(row, { generation: 2, rows: 0 }, 'nothing was minted for the replay: two rotations')
  t.equal(await liveTokens(prisma), 0, 'the ended session holds no live token')
})

// An attack that did not get through (kept so the coverage is visible).
t.test('held: a grace-window replay racing the owner two rotations ahead revokes, never forks', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  const r1 = (await refresh(app, a.refreshToken)).json()
  const [r2, replay] = await Promise.all([refresh(app, r1.refreshToken), refresh(app, a.refreshToken)])
  t.comment(`owner ${r2.statusCode}, replay of the first token ${replay.statusCode} ${replay.json().code ?? ''}`)
  const live = await liveTokens(prisma)
  t.ok(live <= 1, 'never two live tokens')
})
