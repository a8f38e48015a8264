import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

// Every auth outcome lands in auth_events, failures included, with who, from
// where and which request, and never a secret.

type Built = Awaited<ReturnType<typeof build>>
interface Row {
  type: string
  outcome: string
  user_id: string | null
  session_id: string | null
  appid: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
}

async function events (built: Built): Promise<Row[]> {
  await built.app.audit.flush()
  return built.prisma.$queryRaw<Row[]>`SELECT type, outcome, user_id::text, session_id::text, appid, ip, user_agent, request_id FROM auth_events ORDER BY id`
}

const UA = { 'user-agent': 'Mozilla/5.0 MicroMessenger/8.0.50' }

t.test('a full flow is recorded: login, refresh, decrypt, verify, phone, logout, logout-all, each with user, session, app, ip, user agent and request id', async (t) => {
  const built = await build(t)
  const { app, fake } = built
  const { code } = fake.login(APP.appid, 'alice')
  const loginRes = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, headers: UA, remoteAddress: '203.0.113.7' })
  t.equal(loginRes.statusCode, 200)
  const alice = loginRes.json()
  const sid = app.jwt.decode<{ sid: string }>(alice.accessToken)!.sid
  const next = (await refresh(app, alice.refreshToken)).json()
  const info = fake.userInfo(APP.appid, 'alice', { nickName: 'A' })
  const auth = { ...bearer(next.accessToken), ...UA }
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: auth, payload: { encryptedData: info.encryptedData, iv: info.iv } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/verify', headers: auth, payload: { rawData: info.rawData, signature: info.signature } })).statusCode, 200)
  const phoneCode = fake.phoneCode(APP.appid, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: auth, payload: { code: phoneCode } })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: auth })).statusCode, 204)
  const other = await login(app, fake, 'alice')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(other.accessToken) })).statusCode, 204)

  const rows = await events(built)
  t.same(rows.map((r) => `${r.type}:${r.outcome}`), ['login:ok', 'refresh:ok', 'decrypt:ok', 'verify:ok', 'phone:ok', 'logout:ok', 'login:ok', 'logout_all:ok'])
  for (const row of rows) {
    t.equal(row.user_id, alice.user.id, `${row.type}: user`)
    t.equal(row.appid, APP.appid, `${row.type}: appid`)
    t.ok(row.request_id !== null && row.request_id.length > 0, `${row.type}: request id`)
  }
  t.same(rows.slice(0, 6).map((r) => r.session_id), Array(6).fill(sid), 'the session of each event')
  t.equal(rows[0]!.ip, '203.0.113.7')
  t.equal(rows[0]!.user_agent, UA['user-agent'])
})

t.test('each kind of failure is recorded with the code the client got, and who it was about when known', async (t) => {
  const built = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const { app, fake, prisma } = built
  const expect: string[] = []
  const alice = await login(app, fake, 'alice')
  expect.push('login:ok')

  // A code WeChat does not know.
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 'nosuchcode0000000000000000000000' } })).json().code, 'WECHAT_CODE_INVALID')
  expect.push('login:WECHAT_CODE_INVALID')
  // A body that fails validation.
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 7 } })).statusCode, 400)
  expect.push('login:FST_ERR_VALIDATION')
  // Refresh-token reuse: the event, and the session it ended.
  const next = (await refresh(app, alice.refreshToken)).json()
  expect.push('refresh:ok')
  t.equal((await refresh(app, alice.refreshToken)).json().code, 'REFRESH_TOKEN_REUSED')
  expect.push('refresh:REFRESH_TOKEN_REUSED', 'session_revoked:refresh_reuse')
  t.equal((await refresh(app, next.refreshToken)).json().code, 'SESSION_REVOKED')
  expect.push('refresh:SESSION_REVOKED')
  t.equal((await refresh(app, 'rt_' + 'x'.repeat(43))).json().code, 'REFRESH_TOKEN_INVALID')
  expect.push('refresh:REFRESH_TOKEN_INVALID')
  // A forged bearer token on a user-data route.
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer('not.a.token'), payload: { encryptedData: 'AAAA', iv: 'AAAAAAAAAAAAAAAAAAAAAA==' } })).statusCode, 401)
  expect.push('decrypt:ACCESS_TOKEN_INVALID')
  // A banned user.
  const bob = await login(app, fake, 'bob')
  expect.push('login:ok')
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${bob.user.id}::uuid`
  t.equal((await refresh(app, bob.refreshToken)).json().code, 'USER_DISABLED')
  // The ban itself ended bob's session (a trigger on users.disabled_at): the refresh ends nothing more.
  expect.push('refresh:USER_DISABLED')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'bob').code } })).json().code, 'USER_DISABLED')
  expect.push('login:USER_DISABLED')

  const rows = await events(built)
  t.same(rows.map((r) => `${r.type}:${r.outcome}`), expect)
  const about = (type: string, outcome: string) => rows.find((r) => r.type === type && r.outcome === outcome)!
  t.equal(about('refresh', 'REFRESH_TOKEN_REUSED').user_id, alice.user.id, 'a reuse names the user whose session it ended')
  t.equal(about('session_revoked', 'refresh_reuse').session_id, app.jwt.decode<{ sid: string }>(alice.accessToken)!.sid)
  t.equal(about('login', 'USER_DISABLED').user_id, bob.user.id, 'a banned login names the banned user')
  t.equal(about('refresh', 'USER_DISABLED').user_id, bob.user.id)
  t.equal(about('login', 'WECHAT_CODE_INVALID').user_id, null, 'nobody is known for a bad code')
  t.equal(about('login', 'WECHAT_CODE_INVALID').appid, APP.appid)
})

t.test('a flood past a rate limit, and failures naming no one, are recorded once per client, route, outcome and minute', async (t) => {
  let now = Date.parse('2026-11-22T00:00:00Z')
  const built = await build(t, { env: { RATE_LIMIT_AUTH_MAX: '2' }, clock: () => now })
  const { app } = built
  const flood = async (ip: string) => {
    const codes: number[] = []
    for (let i = 0; i < 6; i++) codes.push((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: 'rt_' + 'y'.repeat(43) }, remoteAddress: ip })).statusCode)
    return codes
  }
  t.same(await flood('198.51.100.1'), [401, 401, 429, 429, 429, 429])
  t.same(await flood('198.51.100.2'), [401, 401, 429, 429, 429, 429])
  let rows = await events(built)
  t.same(rows.filter((r) => r.outcome === 'RATE_LIMITED').map((r) => r.ip), ['198.51.100.1', '198.51.100.2'], 'one row per client')
  t.same(rows.filter((r) => r.outcome === 'REFRESH_TOKEN_INVALID').map((r) => r.ip), ['198.51.100.1', '198.51.100.2'],
    'refusals naming no one are one row per client and minute too')
  now += 61_000
  await flood('198.51.100.1')
  rows = await events(built)
  t.equal(rows.filter((r) => r.outcome === 'RATE_LIMITED').length, 3, 'a minute later the flood is recorded again')
})

t.test('attack: an ended session\'s tokens, replayed, write one row per client, route, outcome and minute', async (t) => {
  // A client that ended its own session keeps its tokens: the access token verifies by signature
  // until it expires (15 min), the refresh token is found by its hash. Each replay was a row.
  const built = await build(t, { env: { REFRESH_REUSE_GRACE: '0' }, clock: () => Date.parse('2026-11-22T00:00:00Z') })
  const { app, fake } = built
  const mallory = await login(app, fake, 'mallory')
  t.equal((await refresh(app, mallory.refreshToken)).statusCode, 200)
  t.equal((await refresh(app, mallory.refreshToken)).json().code, 'REFRESH_TOKEN_REUSED', 'the session is ended, and recorded so')
  const before = (await events(built)).length
  const replays = { logout: 0, logout_all: 0, refresh: 0 }
  for (let i = 0; i < 200; i++) {
    const from = { remoteAddress: '203.0.113.66', headers: bearer(mallory.accessToken) }
    if ((await app.inject({ method: 'POST', url: '/v1/auth/logout', ...from })).statusCode === 401) replays.logout++
    if ((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', ...from })).statusCode === 401) replays.logout_all++
    if ((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: mallory.refreshToken }, remoteAddress: '203.0.113.66' })).statusCode === 401) replays.refresh++
  }
  t.same(replays, { logout: 200, logout_all: 200, refresh: 200 }, 'every replay refused')
  const rows = (await events(built)).slice(before)
  t.same(rows.map((r) => `${r.type}:${r.outcome}`).sort(), ['logout:SESSION_REVOKED', 'logout_all:SESSION_REVOKED', 'refresh:SESSION_REVOKED'],
    `${rows.length} rows for 600 replays of one session's tokens from one client`)
  t.equal(rows[0]!.user_id, mallory.user.id, 'the row names whose tokens they were')
})

t.test('no secret reaches auth_events: the whole table dumped holds no code, token, session_key, encrypted data, phone code or AppSecret', async (t) => {
  const built = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const { app, fake, prisma } = built
  const secrets: string[] = [APP.secret]
  const { code } = fake.login(APP.appid, 'alice')
  secrets.push(code)
  const alice = (await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })).json()
  secrets.push(alice.accessToken, alice.refreshToken, fake.sessionKey(APP.appid, 'alice')!)
  const replay = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(replay.statusCode, 200, 'a retry of the code inside its window gets the same grant')
  const next = (await refresh(app, alice.refreshToken)).json()
  secrets.push(next.accessToken, next.refreshToken)
  await refresh(app, alice.refreshToken)
  const bob = await login(app, fake, 'bob')
  secrets.push(bob.accessToken, bob.refreshToken)
  const info = fake.userInfo(APP.appid, 'bob', { nickName: 'SecretNick' })
  secrets.push(info.encryptedData, info.iv, info.signature, info.rawData)
  await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(bob.accessToken), payload: { encryptedData: info.encryptedData, iv: info.iv } })
  await app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(bob.accessToken), payload: { rawData: info.rawData, signature: 'f'.repeat(40) } })
  const phoneCode = fake.phoneCode(APP.appid, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  secrets.push(phoneCode, '13800138000')
  await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(bob.accessToken), payload: { code: phoneCode } })
  await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(bob.accessToken), payload: { code: phoneCode } })
  await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 'badcode-' + 'z'.repeat(24) } })
  secrets.push('badcode-' + 'z'.repeat(24))

  await app.audit.flush()
  const [dump] = await prisma.$queryRaw<{ text: string, rows: number }[]>`SELECT coalesce(string_agg(e::text, E'\n'), '') AS text, count(*)::int AS rows FROM auth_events e`
  t.ok(dump!.rows >= 10, `the table has the events (${dump!.rows})`)
  for (const secret of secrets) t.notOk(dump!.text.includes(secret), `not in the table: ${secret.slice(0, 6)}…`)
  t.notOk(/SecretNick/.test(dump!.text), 'no profile data either')
})

t.test('events buffered when the app closes are written before its pool closes', async (t) => {
  const built = await build(t)
  const { app, fake, prisma } = built
  await login(app, fake, 'alice')
  await login(app, fake, 'bob')
  await app.close()
  const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM auth_events`.catch(async () => {
    // The app's pool is closed: read through a fresh connection.
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: built.testDb.url })
    await client.connect()
    try { return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM auth_events')).rows } finally { await client.end() }
  })
  t.equal(row!.n, 2)
})
