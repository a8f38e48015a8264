import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

t.test('refresh rotates: a new pair for the same session, the old refresh token retired', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const res = await refresh(app, first.refreshToken)
  t.equal(res.statusCode, 200)
  const next = res.json()
  t.same(Object.keys(next).sort(), ['accessToken', 'expiresIn', 'refreshExpiresIn', 'refreshToken', 'tokenType'])
  t.not(next.refreshToken, first.refreshToken)
  t.not(next.accessToken, first.accessToken)
  t.equal(app.jwt.decode<{ sid: string }>(next.accessToken)!.sid, app.jwt.decode<{ sid: string }>(first.accessToken)!.sid, 'same session')
  const [row] = await prisma.$queryRaw<{ generation: number, retired: boolean, rows: number }[]>`
    SELECT refresh_generation AS generation, previous_refresh_hash IS NOT NULL AS retired, (SELECT count(*)::int FROM refresh_tokens) AS rows FROM sessions`
  t.same(row, { generation: 1, retired: true, rows: 0 }, 'the session row rotated; no token row')
  t.equal((await refresh(app, next.refreshToken)).statusCode, 200, 'the successor works')
})

t.test('a retired token reused within the grace window gets the same successor, with a fresh access token', async (t) => {
  const { app, fake } = await build(t)
  const first = await login(app, fake, 'alice')
  const a = (await refresh(app, first.refreshToken)).json()
  const b = await refresh(app, first.refreshToken)
  t.equal(b.statusCode, 200)
  t.equal(b.json().refreshToken, a.refreshToken, 'one chain: the same successor')
  t.not(b.json().accessToken, a.accessToken)
  t.equal(app.jwt.decode<{ sid: string }>(b.json().accessToken)!.sid, app.jwt.decode<{ sid: string }>(a.accessToken)!.sid)
  t.equal((await refresh(app, a.refreshToken)).statusCode, 200, 'the successor works')
})

t.test('reuse after the grace window is theft: the session is revoked', async (t) => {
  const { app, fake, prisma } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const first = await login(app, fake, 'alice')
  const other = await login(app, fake, 'alice')
  const next = (await refresh(app, first.refreshToken)).json()
  const reuse = await refresh(app, first.refreshToken)
  t.equal(reuse.statusCode, 401)
  t.match(reuse.json(), { code: 'REFRESH_TOKEN_REUSED', message: /log in again/ })
  const stolen = await refresh(app, next.refreshToken)
  t.match(stolen.json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'the thief\'s or the victim\'s successor is dead too')
  const [session] = await prisma.$queryRaw<{ revoked_reason: string }[]>`SELECT revoked_reason FROM sessions WHERE revoked_at IS NOT NULL`
  t.equal(session!.revoked_reason, 'refresh_reuse')
  t.equal((await refresh(app, other.refreshToken)).statusCode, 200, 'the user\'s other sessions live on')
})

t.test('20 concurrent refreshes of one token: all succeed with one successor, one session, one live token', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(app, first.refreshToken)))
  t.same(results.map((r) => r.statusCode), Array(20).fill(200))
  t.equal(new Set(results.map((r) => r.json().refreshToken)).size, 1, 'every caller got the one successor')
  const sids = new Set(results.map((r) => app.jwt.decode<{ sid: string }>(r.json().accessToken)!.sid))
  t.equal(sids.size, 1)
  const [row] = await prisma.$queryRaw<{ sessions: number, generation: number, rows: number }[]>`
    SELECT (SELECT count(*)::int FROM sessions) AS sessions, (SELECT max(refresh_generation) FROM sessions) AS generation,
           (SELECT count(*)::int FROM refresh_tokens) AS rows`
  t.same(row, { sessions: 1, generation: 1, rows: 0 }, 'the presented token was retired once, one successor minted')
})

t.test('20 concurrent refreshes without a grace window: one wins, the rest revoke the session, no 500', async (t) => {
  const { app, fake } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const first = await login(app, fake, 'alice')
  const results = await Promise.all(Array.from({ length: 20 }, () => refresh(app, first.refreshToken)))
  const statuses = results.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 200).length, 1)
  t.equal(statuses.filter((s) => s === 401).length, 19)
  t.ok(results.filter((r) => r.statusCode === 401).every((r) => ['REFRESH_TOKEN_REUSED', 'SESSION_REVOKED'].includes(r.json().code)))
})

t.test('expired refresh tokens and sessions past their maximum age', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  await prisma.$executeRaw`UPDATE sessions SET refresh_expires_at = now() - interval '1 second'`
  t.match((await refresh(app, a.refreshToken)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_EXPIRED' })
  const b = await login(app, fake, 'alice')
  await prisma.$executeRaw`UPDATE sessions SET expires_at = now() - interval '1 second'`
  t.match((await refresh(app, b.refreshToken)).json(), { statusCode: 401, code: 'SESSION_EXPIRED' })
})

t.test('a refresh token never outlives its session (absolute cap)', async (t) => {
  const { app, fake } = await build(t, { env: { SESSION_MAX_AGE: '1h', REFRESH_TOKEN_TTL: '30d' } })
  const a = await login(app, fake, 'alice')
  t.ok(a.refreshExpiresIn <= 3600 && a.refreshExpiresIn > 3590, `refreshExpiresIn ${a.refreshExpiresIn}`)
  t.ok((await refresh(app, a.refreshToken)).json().refreshExpiresIn <= 3600)
})

t.test('SESSION_MAX_AGE ends the session on every route that takes its refresh token or reads it', async (t) => {
  const { app, fake, prisma } = await build(t, { env: { SESSION_MAX_AGE: '1h', REFRESH_TOKEN_TTL: '30d' } })
  const a = await login(app, fake, 'alice')
  const [row] = await prisma.$queryRaw<{ age: number }[]>`SELECT extract(epoch FROM expires_at - created_at)::int AS age FROM sessions`
  t.equal(row!.age, 3600, 'the session ends SESSION_MAX_AGE after it began')
  const sealed = fake.userInfo(APP.appid, 'alice', { nickName: 'Alice' })
  const phone = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
  const { code } = fake.login(APP.appid, 'bob')
  const b = (await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })).json()
  t.ok(b.accessToken)

  // An hour and a second pass for both sessions (every timestamp moved back; the access tokens, 15 min long, are still valid).
  await prisma.$executeRaw`UPDATE sessions SET created_at = created_at - interval '3601 seconds', expires_at = expires_at - interval '3601 seconds',
    refresh_expires_at = refresh_expires_at - interval '3601 seconds'`
  const phoneCalls = fake.callCount('/wxa/business/getuserphonenumber')
  const auth = bearer(a.accessToken)
  const routes: [string, () => Promise<{ statusCode: number, body: string }>][] = [
    ['POST /v1/auth/refresh', () => refresh(app, a.refreshToken)],
    ['GET /v1/me', () => app.inject({ method: 'GET', url: '/v1/me', headers: auth })],
    ['POST /v1/auth/decrypt', () => app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: auth, payload: { encryptedData: sealed.encryptedData, iv: sealed.iv } })],
    ['POST /v1/auth/verify', () => app.inject({ method: 'POST', url: '/v1/auth/verify', headers: auth, payload: { rawData: sealed.rawData, signature: sealed.signature } })],
    ['POST /v1/auth/phone', () => app.inject({ method: 'POST', url: '/v1/auth/phone', headers: auth, payload: { code: fake.phoneCode(APP.appid, phone) } })],
    ['POST /v1/auth/logout-all', () => app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: auth })],
    ['POST /v1/auth/logout', () => app.inject({ method: 'POST', url: '/v1/auth/logout', headers: auth })]
  ]
  for (const [route, send] of routes) {
    const res = await send()
    t.match({ status: res.statusCode, ...(res.body === '' ? {} : JSON.parse(res.body)) }, { status: 401, code: 'SESSION_EXPIRED' }, route)
  }
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), phoneCalls, 'an expired session spends no phone code at WeChat')
  const retry = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(retry.json(), { statusCode: 401, code: 'WECHAT_CODE_USED' }, "a retry of bob's code does not hand out his expired session")

  // Every route that takes a session is in the list above, but /v1/auth/session, which checks the signature alone
  // (docs/api.md, "Sessions and tokens"): there the token's own expiry (ACCESS_TOKEN_TTL <= SESSION_MAX_AGE) is the bound.
  const spec = app.swagger() as { paths: Record<string, Record<string, { security?: unknown[], requestBody?: unknown }>> }
  const tried = new Set(routes.map(([route]) => route))
  const taking = Object.entries(spec.paths).flatMap(([path, ops]) => Object.entries(ops)
    .filter(([, op]) => op.security !== undefined || JSON.stringify(op.requestBody ?? {}).includes('refreshToken'))
    .map(([method]) => `${method.toUpperCase()} ${path}`))
  t.same(taking.filter((route) => !tried.has(route)).sort(), ['GET /v1/auth/session'], 'no other route takes a session')
  const claims = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: auth })
  t.equal(claims.statusCode, 200, '/v1/auth/session answers by signature until the access token expires (documented limit)')
  t.ok(Date.parse(claims.json().expiresAt) - Date.now() <= 15 * 60_000, 'which is at most ACCESS_TOKEN_TTL away')
  const after = await prisma.$queryRaw<{ revoked: number }[]>`SELECT count(*)::int AS revoked FROM sessions WHERE revoked_at IS NOT NULL`
  t.equal(after[0]!.revoked, 0, 'logout of an expired session revoked nothing')
})

t.test('unknown and malformed refresh tokens', async (t) => {
  const { app } = await build(t)
  t.match((await refresh(app, `rt_${'A'.repeat(43)}`)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' })
  t.match((await refresh(app, 'not-a-token')).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' })
  t.match((await refresh(app, '')).json(), { statusCode: 400, code: 'FST_ERR_VALIDATION' })
})

t.test('logout ends this session only; logout-all ends every session', async (t) => {
  const { app, fake } = await build(t)
  const phone = await login(app, fake, 'alice')
  const tablet = await login(app, fake, 'alice')
  const laptop = await login(app, fake, 'alice')
  const out = await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(phone.accessToken) })
  t.equal(out.statusCode, 204)
  t.equal(out.body, '')
  t.match((await refresh(app, phone.refreshToken)).json(), { code: 'SESSION_REVOKED' })
  t.match((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(phone.accessToken) })).json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  const tabletNext = (await refresh(app, tablet.refreshToken)).json()
  t.ok(tabletNext.refreshToken, 'other sessions unaffected')

  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(laptop.accessToken) })).statusCode, 204)
  t.match((await refresh(app, tabletNext.refreshToken)).json(), { code: 'SESSION_REVOKED' })
  t.match((await refresh(app, laptop.refreshToken)).json(), { code: 'SESSION_REVOKED' })
  const bob = await login(app, fake, 'bob')
  t.equal((await refresh(app, bob.refreshToken)).statusCode, 200, 'other users unaffected')
})

t.test('GET /v1/me returns the profile without secrets', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const res = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(a.accessToken) })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { id: a.user.id, appid: APP.appid, openid: fake.openid(APP.appid, 'alice'), hasUnionid: true, nickname: null, createdAt: /^\d{4}-/ })
  t.notMatch(res.body, /session_?key/i)
  t.notMatch(res.body, fake.sessionKey(APP.appid, 'alice')!)
})
