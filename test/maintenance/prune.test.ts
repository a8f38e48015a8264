import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Pruner } from '../../src/maintenance/pruner.js'
import { APP, build, ED25519_PEM, VAULT_KEYS } from '../helper.js'
import { login, refresh } from '../helpers/auth.js'
import { newLegacyRefreshToken } from '../helpers/legacy-tokens.js'

// Nothing grows forever: refresh tokens go once they could no longer be
// presented, ended sessions SESSION_RETENTION after none of their tokens could
// be, audit events after AUDIT_RETENTION; live rows stay and keep working.

type Built = Awaited<ReturnType<typeof build>>
const DAY = 86_400
const policy = { sessionRetentionSeconds: 30 * DAY, auditRetentionSeconds: 180 * DAY }

/** Refresh tokens stored: rows of the previous scheme, and the one each session row holds. */
async function counts (prisma: Built['prisma']) {
  const [row] = await prisma.$queryRaw<{ tokens: number, sessions: number, events: number }[]>`
    SELECT (SELECT count(*)::int FROM refresh_tokens) + (SELECT count(*)::int FROM sessions WHERE refresh_hash IS NOT NULL) AS tokens, (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM auth_events) AS events`
  return row!
}

t.test('expired refresh tokens of the previous scheme go; a retired one inside its life stays and is still caught as reuse; the live one still works', async (t) => {
  const { app, fake, prisma, database } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const alice = await login(app, fake, 'alice')
  const sid = app.jwt.decode<{ sid: string }>(alice.accessToken)!.sid
  // alice's session as the previous scheme left it: two retired rows expired an hour ago, one retired
  // inside its life, one live (rotated below into the session row).
  const [old1, old2, inLife, live] = [newLegacyRefreshToken(), newLegacyRefreshToken(), newLegacyRefreshToken(), newLegacyRefreshToken()]
  await prisma.$executeRaw`UPDATE sessions SET refresh_hash = NULL WHERE id = ${sid}::uuid`
  await prisma.$executeRaw`INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at) VALUES
    (${sid}::uuid, ${old1.hash}, now() - interval '1 hour', now() - interval '2 days'), (${sid}::uuid, ${old2.hash}, now() - interval '1 hour', now() - interval '1 day'),
    (${sid}::uuid, ${inLife.hash}, now() + interval '1 day', now() - interval '1 hour'), (${sid}::uuid, ${live.hash}, now() + interval '30 days', NULL)`
  const r1 = (await refresh(app, live.token)).json()
  const r2 = (await refresh(app, r1.refreshToken)).json()
  t.same(await new Pruner(database, policy).run(), { refreshTokens: 2, sessions: 0, authEvents: 0 })
  t.equal((await counts(prisma)).tokens, 3, 'the retired-in-life row and the last one remain, and the session row\'s token')
  t.equal((await refresh(app, old1.token)).json().code, 'REFRESH_TOKEN_INVALID', 'a pruned token is unknown')
  t.equal((await refresh(app, r2.refreshToken)).statusCode, 200, 'the live token still rotates')
  const reuse = await refresh(app, inLife.token)
  t.equal(reuse.json().code, 'REFRESH_TOKEN_REUSED', 'the retired token inside its life is still detected as reuse')
})

t.test('a pass keeps every earlier token of a live session recognised as reuse', async (t) => {
  const { app, fake, database } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const alice = await login(app, fake, 'alice')
  const r1 = (await refresh(app, alice.refreshToken)).json()
  const r2 = (await refresh(app, r1.refreshToken)).json()
  t.same(await new Pruner(database, policy).run(), { refreshTokens: 0, sessions: 0, authEvents: 0 })
  t.equal((await refresh(app, r2.refreshToken)).statusCode, 200, 'the live token still rotates')
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'REFRESH_TOKEN_REUSED', 'the first token is still detected as reuse')
})

t.test('ended sessions go SESSION_RETENTION after their last token could be presented, with their tokens; recent ones and live ones stay', async (t) => {
  const { app, fake, prisma, database } = await build(t)
  const live = await login(app, fake, 'alice')
  const old = await login(app, fake, 'bob')
  const recent = await login(app, fake, 'carol')
  const expired = await login(app, fake, 'dave')
  const sid = (token: string) => app.jwt.decode<{ sid: string }>(token)!.sid
  // A revoked session's last token expires at most REFRESH_TOKEN_TTL (30 d) after the revocation.
  await prisma.$executeRaw`UPDATE sessions SET revoked_at = now() - interval '61 days', revoked_reason = 'logout' WHERE id = ${sid(old.accessToken)}::uuid`
  await prisma.$executeRaw`UPDATE sessions SET revoked_at = now() - interval '59 days', revoked_reason = 'logout' WHERE id = ${sid(recent.accessToken)}::uuid`
  await prisma.$executeRaw`UPDATE sessions SET expires_at = now() - interval '31 days' WHERE id = ${sid(expired.accessToken)}::uuid`
  // A revoked session's newest token expires at most REFRESH_TOKEN_TTL (30 d) after the revocation, and never after its end.
  await prisma.$executeRaw`UPDATE sessions SET refresh_expires_at = LEAST(refresh_expires_at, expires_at, COALESCE(revoked_at + interval '30 days', refresh_expires_at))`
  const result = await new Pruner(database, policy).run()
  t.same(result, { refreshTokens: 0, sessions: 2, authEvents: 0 }, 'bob\'s and dave\'s sessions, their tokens with them')
  const left = await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM sessions ORDER BY id`
  t.same(left.map((r) => r.id).sort(), [sid(live.accessToken), sid(recent.accessToken)].sort())
  t.same(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM refresh_tokens WHERE session_id NOT IN (SELECT id FROM sessions)`, [{ n: 0 }])
  t.equal((await refresh(app, live.refreshToken)).statusCode, 200, 'the live session works')
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${live.accessToken}` } })).statusCode, 200)
})

t.test('attack: with SESSION_RETENTION=0 (the default) a revoked session stays while its tokens can be presented, and they are told it was revoked', async (t) => {
  const { app, fake, prisma, database } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const alice = await login(app, fake, 'alice')
  const sid = app.jwt.decode<{ sid: string }>(alice.accessToken)!.sid
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: { authorization: `Bearer ${alice.accessToken}` } })).statusCode, 204)
  const now = { ...policy, sessionRetentionSeconds: 0 }
  t.same(await new Pruner(database, now).run(), { refreshTokens: 0, sessions: 0, authEvents: 0 }, 'nothing goes while the token is inside its life')
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'SESSION_REVOKED', 'the stolen or stale token is told what happened')
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${alice.accessToken}` } })).json().code, 'SESSION_REVOKED')
  // 30 days later (REFRESH_TOKEN_TTL) the token has expired: nothing can be presented, the session goes.
  await prisma.$executeRaw`UPDATE sessions SET revoked_at = revoked_at - interval '30 days 1 minute', refresh_expires_at = now() - interval '1 minute' WHERE id = ${sid}::uuid`
  t.same(await new Pruner(database, now).run(), { refreshTokens: 0, sessions: 1, authEvents: 0 })
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'REFRESH_TOKEN_INVALID')
})

t.test('an idle session (its live refresh token expired unused) goes SESSION_RETENTION after that expiry', async (t) => {
  const { app, fake, prisma, database } = await build(t)
  const active = await login(app, fake, 'alice')
  const idle = await login(app, fake, 'bob')
  const recent = await login(app, fake, 'carol')
  const sid = (token: string) => app.jwt.decode<{ sid: string }>(token)!.sid
  await prisma.$executeRaw`UPDATE sessions SET refresh_expires_at = now() - interval '31 days' WHERE id = ${sid(idle.accessToken)}::uuid`
  await prisma.$executeRaw`UPDATE sessions SET refresh_expires_at = now() - interval '1 day' WHERE id = ${sid(recent.accessToken)}::uuid`
  t.same(await new Pruner(database, policy).run(), { refreshTokens: 0, sessions: 1, authEvents: 0 })
  const left = await prisma.$queryRaw<{ id: string, tokens: number }[]>`SELECT s.id::text, (s.refresh_hash IS NOT NULL)::int AS tokens FROM sessions s`
  t.same(left.map((r) => r.id).sort(), [sid(active.accessToken), sid(recent.accessToken)].sort(), 'the session idle for 31 days went')
  t.same(left.map((r) => r.tokens), [1, 1], 'an expired live token is kept while its session is: it dates the idleness')
  t.equal((await refresh(app, recent.refreshToken)).json().code, 'REFRESH_TOKEN_EXPIRED', 'the idle session\'s client is told to log in again')
  t.equal((await refresh(app, active.refreshToken)).statusCode, 200)
})

t.test('audit events go after AUDIT_RETENTION, all at once (whole days: test/audit/partitions.test.ts)', async (t) => {
  const { prisma, database } = await build(t)
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT now() - interval '181 days', 'login', 'ok' FROM generate_series(1, 2500)`
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT now() - interval '179 days', 'login', 'ok' FROM generate_series(1, 3)`
  const batches: number[] = []
  const result = await new Pruner(database, policy).run((step, deleted) => { if (step === 'authEvents') batches.push(deleted) })
  t.same(batches, [2500])
  t.equal(result!.authEvents, 2500)
  t.equal((await counts(prisma)).events, 3)
})

t.test('one instance prunes at a time: while another holds the advisory lock a pass does nothing', async (t) => {
  const { prisma, database } = await build(t)
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) VALUES (now() - interval '1000 days', 'login', 'ok')`
  const other = await database.prisma.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(72707370)`
    return new Pruner(database, policy).run()
  })
  t.equal(other, undefined, 'skipped while the lock is held elsewhere')
  t.equal((await counts(prisma)).events, 1)
  t.same(await new Pruner(database, policy).run(), { refreshTokens: 0, sessions: 0, authEvents: 1 }, 'runs once the lock is free')
})

t.test('attack: a pass whose lock connection is lost stops at once: two instances never prune at once', async (t) => {
  const { app, fake, prisma, database } = await build(t)
  const alice = await login(app, fake, 'alice')
  const sid = app.jwt.decode<{ sid: string }>(alice.accessToken)!.sid
  await prisma.$executeRaw`INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at)
    SELECT ${sid}::uuid, sha256(('t' || g)::bytea), now() - interval '1 hour', now() - interval '1 day' FROM generate_series(1, 2500) g`
  let lost = false
  let batchesAfterLoss = 0
  // A rests 20 times as long as each batch took: time for the lock to be lost and taken by another.
  const first = new Pruner(database, policy, Date.now, 20).run(async () => {
    if (lost) { batchesAfterLoss++; return }
    lost = true
    // Its connection dropped (a proxy's idle timeout, a failover, pg_terminate_backend): the server frees the lock.
    await prisma.$executeRaw`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707370 AND granted`
  }).then((counts) => counts, (error: Error) => error.message)
  const isLost = () => lost
  for (let i = 0; i < 100 && !isLost(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 200))
  const second = await new Pruner(database, policy, Date.now, 0).run()
  t.ok(second !== undefined, 'another instance took the freed lock and pruned')
  t.match(await first, /lost the advisory lock/, 'the first pass stopped with a reason')
  t.equal(batchesAfterLoss, 0, 'and deleted nothing once its lock was gone')
  const [{ n }] = await prisma.$queryRaw<[{ n: number }]>`SELECT count(*)::int AS n FROM refresh_tokens WHERE expires_at < now()`
  t.equal(n, 0, 'every due token pruned all the same')
})

t.test('the service prunes on its own every PRUNE_INTERVAL and logs what it removed', async (t) => {
  const lines: string[] = []
  const { createLogger } = await import('../../src/logger.js')
  const logger = createLogger('info', { write: (line: string) => { lines.push(line) } })
  const { prisma } = await build(t, { env: { PRUNE_INTERVAL: '1s' }, logger })
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) VALUES (now() - interval '1000 days', 'login', 'ok')`
  for (let i = 0; i < 100 && (await counts(prisma)).events > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal((await counts(prisma)).events, 0, 'pruned by the timer')
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('prune: removed')); i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.match(lines.find((l) => l.includes('prune: removed')), /removed 0 refresh tokens, 0 sessions, 1 audit events/)
})

t.test('attack: the service\'s pass under a clock set a year ahead (NTP, an operator) expires no session and no audit day', async (t) => {
  const lines: string[] = []
  const { createLogger } = await import('../../src/logger.js')
  const logger = createLogger('info', { write: (line: string) => { lines.push(line) } })
  let now = Date.now()
  const { app, fake, prisma } = await build(t, { env: { PRUNE_INTERVAL: '1s' }, logger, clock: () => now })
  await login(app, fake, 'alice')
  await app.audit.flush()
  const before = await counts(prisma)
  now += 365 * DAY * 1000
  lines.length = 0
  // Two passes logged: the second began after the clock moved (a pass began before may log the first).
  const passes = () => lines.filter((l) => l.includes('prune')).length
  for (let i = 0; i < 100 && passes() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(await counts(prisma), before, 'the session, its token and the audit event are all kept')
  t.match(lines.filter((l) => l.includes('prune'))[1], /ahead of the database/, 'and the refusal is logged')
})

t.test('soak: under steady logins and refreshes, with time passing, the row counts level off', async (t) => {
  // Time passes by ageing the data an hour a round (the database's clock cannot be faked).
  const { app, fake, prisma, database } = await build(t, {
    env: { REFRESH_TOKEN_TTL: '4h', SESSION_MAX_AGE: '8h', SESSION_RETENTION: '2h', AUDIT_RETENTION: '1d' }
  })
  const pruner = new Pruner(database, { sessionRetentionSeconds: 2 * 3600, auditRetentionSeconds: DAY })
  const tokens = new Map<string, string>()
  const history: { tokens: number, sessions: number, events: number }[] = []
  let written = 0
  for (let round = 0; round < 40; round++) {
    for (let u = 0; u < 6; u++) {
      const user = `user${u}`
      const current = tokens.get(user)
      const res = current === undefined || (round + u) % 5 === 0 ? undefined : await refresh(app, current)
      if (res?.statusCode === 200) tokens.set(user, res.json().refreshToken)
      else tokens.set(user, (await login(app, fake, user)).refreshToken)
      written++
    }
    await app.audit.flush()
    await prisma.$executeRaw`UPDATE refresh_tokens SET expires_at = expires_at - interval '1 hour', created_at = created_at - interval '1 hour'`
    await prisma.$executeRaw`UPDATE sessions SET expires_at = expires_at - interval '1 hour', revoked_at = revoked_at - interval '1 hour', refresh_expires_at = refresh_expires_at - interval '1 hour'`
    await pruner.run()
    history.push(await counts(prisma))
  }
  const late = history.slice(30)
  const mid = history.slice(20, 30)
  const max = (rows: typeof history, key: keyof typeof history[number]) => Math.max(...rows.map((r) => r[key]))
  // Audit events go a whole day at a time, so hours of ageing cannot level them off: their soak,
  // days long, is in test/audit/partitions.test.ts.
  for (const key of ['tokens', 'sessions'] as const) {
    t.ok(max(late, key) <= max(mid, key), `${key}: no growth from rounds 20-30 (max ${max(mid, key)}) to 30-40 (max ${max(late, key)})`)
  }
  t.ok(history.at(-1)!.tokens < written / 4, `refresh tokens bounded (${history.at(-1)!.tokens} kept of ${written} minted)`)
  t.ok(history.at(-1)!.sessions < 6 * 8, `sessions bounded (${history.at(-1)!.sessions})`)
  t.ok(history.at(-1)!.tokens >= 6, 'each user\'s live token is kept')
})

t.test('npm run db:prune: one pass, progress against an estimate on stderr (plain lines off a terminal), what it removed on stdout', async (t) => {
  const { prisma, testDb } = await build(t)
  await prisma.$executeRaw`INSERT INTO auth_events (created_at, type, outcome) SELECT now() - interval '400 days', 'login', 'ok' FROM generate_series(1, 1500)`
  const cli = fileURLToPath(new URL('../../dist/cli/prune.js', import.meta.url))
  const child = spawn(process.execPath, [cli], {
    env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: testDb.url, WECHAT_APPID: APP.appid, WECHAT_SECRET: APP.secret, JWT_PRIVATE_KEY: ED25519_PEM, SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS },
    cwd: fileURLToPath(new URL('.', import.meta.url))
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.equal(code, 0, stderr)
  t.match(stdout, /removed 0 refresh tokens, 0 sessions, 1500 audit events/)
  t.match(stderr, /old audit events deleted: 1500\/~1500 \(100%\), \d+\/s\n/, 'the total is marked as an estimate')
  t.notMatch(stderr, /\r/, 'no carriage returns off a terminal')
  t.equal((await counts(prisma)).events, 0)
})
