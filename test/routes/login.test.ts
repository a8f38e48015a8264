import { createHash } from 'node:crypto'
import t, { type Test } from 'tap'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, VAULT_KEYS, build, type Built } from '../helper.js'
import { login, rowCounts } from '../helpers/auth.js'

t.test('login: a wx.login code becomes an access token, a refresh token and a user', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['accessToken', 'expiresIn', 'refreshExpiresIn', 'refreshToken', 'tokenType', 'user'])
  t.equal(body.tokenType, 'Bearer')
  t.equal(body.expiresIn, 900)
  t.ok(body.refreshExpiresIn > 30 * 86400 - 5 && body.refreshExpiresIn <= 30 * 86400)
  t.match(body.refreshToken, /^rt2\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{91}$/)
  t.same(body.user, { id: body.user.id, isNew: true })

  const claims = app.jwt.decode<Record<string, unknown>>(body.accessToken)!
  t.equal(claims.sub, body.user.id)
  t.equal(claims.appid, APP.appid)
  t.equal(claims.iss, 'weapp-auth')
  t.equal(claims.aud, 'weapp')
  t.equal((claims.exp as number) - (claims.iat as number), 900, 'access token lives ACCESS_TOKEN_TTL')
  t.match(claims.jti, /^[0-9a-f-]{36}$/)
  const header = JSON.parse(Buffer.from(body.accessToken.split('.')[0], 'base64url').toString())
  t.match(header, { alg: 'EdDSA', kid: /.+/ })

  const [identity] = await prisma.$queryRaw<{ id: string, platform: string, subject: string, subject_kind: string, unionid: string, union_platform: string, session_key_enc: string }[]>`
    SELECT i.id::text, i.platform, i.subject, i.subject_kind, i.unionid, u.union_platform, i.session_key_enc FROM identities i JOIN users u ON u.id = i.user_id`
  t.match(identity, { platform: 'wechat', subject: fake.openid(APP.appid, 'alice'), subject_kind: 'openid' }, 'a WeChat identity, keyed by its openid')
  t.equal(identity!.unionid, fake.unionid('alice'))
  t.equal(identity!.union_platform, 'wechat', "the user's unionid is WeChat's")
  const sessionKey = fake.sessionKey(APP.appid, 'alice')!
  t.notMatch(identity!.session_key_enc, sessionKey, 'session_key is not stored in clear')
  t.equal(new SessionKeyVault(parseVaultKeys(VAULT_KEYS)).decrypt(identity!.session_key_enc, identity!.id), sessionKey)
  const [session] = await prisma.$queryRaw<{ id: string, user_id: string }[]>`SELECT id::text, user_id::text FROM sessions`
  t.equal(session!.id, claims.sid)
  t.equal(session!.user_id, body.user.id)
  const [token] = await prisma.$queryRaw<{ refresh_hash: Buffer }[]>`SELECT refresh_hash FROM sessions`
  t.same(token!.refresh_hash, createHash('sha256').update(body.refreshToken).digest(), 'only the hash is stored')
  t.notMatch(JSON.stringify(body), sessionKey, 'session_key never reaches the client')

  const again = await login(app, fake, 'alice')
  t.same(again.user, { id: body.user.id, isNew: false }, 'a second login finds the same user')
  t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 2, tokens: 2 })
})

t.test('a second login keeps the previous session_key beside the new one', async (t) => {
  const { app, fake, prisma } = await build(t)
  await login(app, fake, 'alice')
  const first = fake.sessionKey(APP.appid, 'alice')
  await login(app, fake, 'alice')
  const vault = new SessionKeyVault(parseVaultKeys(VAULT_KEYS))
  const [row] = await prisma.$queryRaw<{ id: string, session_key_enc: string, previous_session_key_enc: string }[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities`
  t.equal(vault.decrypt(row!.session_key_enc, row!.id), fake.sessionKey(APP.appid, 'alice'))
  t.equal(vault.decrypt(row!.previous_session_key_enc, row!.id), first)
})

async function expectNothingWritten (t: Test, built: Built, payload: object, expected: { status: number, code: string }): Promise<void> {
  const res = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload })
  t.equal(res.statusCode, expected.status, expected.code)
  t.match(res.json(), { statusCode: expected.status, code: expected.code, message: /.+/ })
  t.same(await rowCounts(built.prisma), { users: 0, identities: 0, sessions: 0, tokens: 0 }, `${expected.code}: nothing written`)
}

t.test('every WeChat refusal and fault maps to a clear error and writes nothing', async (t) => {
  // A deadline far beyond the backoff (about 0.2-0.5 s in all): WECHAT_BUSY is decided by the attempts, never by the clock.
  const built = await build(t, { env: { WECHAT_TIMEOUT_MS: '30000' } })
  const { fake } = built
  await expectNothingWritten(t, built, { code: 'never-issued' }, { status: 401, code: 'WECHAT_CODE_INVALID' })
  fake.block('mallory')
  await expectNothingWritten(t, built, { code: fake.login(APP.appid, 'mallory').code }, { status: 403, code: 'WECHAT_USER_BLOCKED' })
  const cases: [object, number, string][] = [
    [{ errcode: 45011 }, 429, 'WECHAT_RATE_LIMITED'],
    [{ errcode: 40125 }, 500, 'WECHAT_CONFIG_INVALID'],
    [{ errcode: 40013 }, 500, 'WECHAT_CONFIG_INVALID'],
    [{ errcode: 40999 }, 502, 'WECHAT_ERROR'],
    [{ status: 503 }, 502, 'WECHAT_UNAVAILABLE'],
    [{ malformed: true }, 502, 'WECHAT_UNAVAILABLE'],
    [{ reset: true }, 502, 'WECHAT_UNAVAILABLE']
  ]
  for (const [fault, status, code] of cases) {
    fake.setFault(fault)
    await expectNothingWritten(t, built, { code: fake.login(APP.appid, 'bob').code }, { status, code })
  }
  fake.setFault({ errcode: -1 })
  const calls = fake.callCount('/sns/jscode2session')
  await expectNothingWritten(t, built, { code: fake.login(APP.appid, 'bob').code }, { status: 503, code: 'WECHAT_BUSY' })
  t.equal(fake.callCount('/sns/jscode2session') - calls, 3, 'busy: three attempts, then WECHAT_BUSY')
  fake.setFault({ errcode: 45011 })
  const limited = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 'x' } })
  t.equal(limited.headers['retry-after'], '60')
})

t.test('WeChat holding its answer past WECHAT_TIMEOUT_MS: 504 WECHAT_TIMEOUT, nothing written', async (t) => {
  const built = await build(t, { env: { WECHAT_TIMEOUT_MS: '300' } })
  // Held until this test has the 504: the answer cannot win a race against the deadline.
  const held = built.fake.hold()
  t.teardown(() => held.release())
  await expectNothingWritten(t, built, { code: built.fake.login(APP.appid, 'bob').code }, { status: 504, code: 'WECHAT_TIMEOUT' })
  held.release()
  t.equal(built.fake.callCount('/sns/jscode2session'), 1)
})

t.test('a used code, a config error and a 5xx say what to do without leaking the secret', async (t) => {
  const built = await build(t)
  const { code } = built.fake.login(APP.appid, 'carol')
  built.fake.setFault({ errcode: 40163, times: 1 })
  const used = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(used.json(), { statusCode: 401, code: 'WECHAT_CODE_USED', message: /call wx\.login again/ })
  built.fake.setFault({ errcode: 40125 })
  const misconfigured = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(misconfigured.json(), { statusCode: 500, code: 'WECHAT_CONFIG_INVALID', message: /AppID or AppSecret rejected/ })
  t.notMatch(misconfigured.body, APP.secret)
  built.fake.setFault({ status: 502 })
  const gateway = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(gateway.json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE', message: /retry shortly/ }, 'a 5xx from WeChat: retry')
  t.notMatch(gateway.body, APP.secret)
  t.notMatch(gateway.body, /<html>/, "WeChat's page is not passed on")
})

t.test('the same code sent twice at once makes one WeChat call and logs in both', async (t) => {
  const { app, fake, prisma } = await build(t)
  fake.setFault({ delayMs: 100, times: 1 })
  const { code } = fake.login(APP.appid, 'dora')
  const [a, b] = await Promise.all([1, 2].map(() => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })))
  t.equal(a!.statusCode, 200)
  t.equal(b!.statusCode, 200)
  t.equal(a!.json().user.id, b!.json().user.id)
  t.equal(fake.callCount('/sns/jscode2session'), 1)
  const retry = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(retry.statusCode, 200, 'a client retry just after gets the same outcome, not 40163')
  t.equal(fake.callCount('/sns/jscode2session'), 1)
  t.same((await rowCounts(prisma)).users, 1)
})

t.test('concurrent first logins of one person create one user', async (t) => {
  for (const bound of [true, false]) {
    const { app, fake, prisma } = await build(t, { apps: [{ ...APP, bound }] })
    const codes = Array.from({ length: 8 }, () => fake.login(APP.appid, 'erin').code)
    const results = await Promise.all(codes.map((code) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })))
    t.same(results.map((r) => r.statusCode), Array(8).fill(200), `bound=${bound}: all succeed`)
    t.equal(new Set(results.map((r) => r.json().user.id)).size, 1, `bound=${bound}: one user id`)
    t.equal(results.filter((r) => r.json().user.isNew).length, 1, `bound=${bound}: exactly one isNew`)
    t.match(await rowCounts(prisma), { users: 1, identities: 1, sessions: 8 })
  }
})

t.test('concurrent first logins of one person in two mini-programs create one user', async (t) => {
  const second = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
  const { app, fake, prisma } = await build(t, { apps: [APP, second], env: { WECHAT_APPS: JSON.stringify([APP, second]) } })
  for (let round = 0; round < 5; round++) {
    const user = `twin-${round}`
    const results = await Promise.all([APP, second, APP, second].map((a) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(a.appid, user).code, appid: a.appid } })))
    t.same(results.map((r) => r.statusCode), [200, 200, 200, 200], `round ${round}: all succeed`)
    t.equal(new Set(results.map((r) => r.json().user.id)).size, 1, `round ${round}: one user`)
  }
  t.match(await rowCounts(prisma), { users: 5, identities: 10 })
})

t.test('unionid joins one person across two mini-programs; unbound apps stay separate', async (t) => {
  const second = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
  const unbound = { appid: 'wxtest0000000003', secret: 'test-secret-0003', bound: false }
  const apps = JSON.stringify([APP, second, unbound])
  const { app, fake, prisma } = await build(t, { apps: [APP, second, unbound], env: { WECHAT_APPS: apps } })
  const first = await login(app, fake, 'frank', APP.appid)
  const other = await login(app, fake, 'frank', second.appid)
  t.equal(other.user.id, first.user.id)
  t.equal(other.user.isNew, false)
  const separate = await login(app, fake, 'frank', unbound.appid)
  t.not(separate.user.id, first.user.id, 'no unionid: no way to know it is the same person')
  t.match(await rowCounts(prisma), { users: 2, identities: 3 })
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${other.accessToken}` } })
  t.equal(me.json().openid, fake.openid(second.appid, 'frank'), '/me shows the openid of the token\'s own app only')
  t.notMatch(me.body, fake.openid(APP.appid, 'frank'))
})

t.test('appid selects the app; unknown or missing appid is a 400', async (t) => {
  const second = { appid: 'wxtest0000000002', secret: 'test-secret-0002' }
  const { app, fake } = await build(t, { apps: [APP, second], env: { WECHAT_APPS: JSON.stringify([APP, second]) } })
  const { code } = fake.login(second.appid, 'gina')
  const missing = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(missing.json(), { statusCode: 400, code: 'APP_REQUIRED' })
  const unknown = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid: 'wxnope' } })
  t.match(unknown.json(), { statusCode: 400, code: 'APP_UNKNOWN' })
  const ok = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid: second.appid } })
  t.equal(ok.statusCode, 200)
})

t.test('malformed login bodies are 400 with a code and write nothing', async (t) => {
  const built = await build(t)
  for (const payload of [{}, { code: '' }, { code: 42 }, { code: 'a'.repeat(129) }, { code: 'ok', extra: 1 }, { code: 'has space' }]) {
    const res = await built.app.inject({ method: 'POST', url: '/v1/auth/login', payload })
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.equal(res.json().code, 'FST_ERR_VALIDATION')
  }
  t.equal(built.fake.callCount('/sns/jscode2session'), 0)
  t.same(await rowCounts(built.prisma), { users: 0, identities: 0, sessions: 0, tokens: 0 })
})
