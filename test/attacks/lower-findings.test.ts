import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import pg from 'pg'
import t from 'tap'
import { parseConfig } from '../../src/config.js'
import { createLogger } from '../../src/logger.js'
import { ADMIN_URL, APP, build, redisNamespace, testConfig } from '../helper.js'
import { bearer, login, refresh, rowCounts } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

function capture () {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done() } })
  return { lines, logger: createLogger('info', stream) }
}

t.test('attack: a revoked session cannot store a phone number', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(alice.accessToken) })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
  t.match(res.json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  const [user] = await prisma.$queryRaw<{ phone_number: string | null }[]>`SELECT phone_number FROM users`
  t.equal(user!.phone_number, null)
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), 0, 'WeChat never asked')
})

t.test("attack: a revoked session's access token cannot end the user's new sessions", async (t) => {
  const { app, fake } = await build(t)
  const old = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(old.accessToken) })
  const fresh = await login(app, fake, 'alice')
  t.match((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(old.accessToken) })).json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  t.equal((await refresh(app, fresh.refreshToken)).statusCode, 200, 'the new session lives on')
})

t.test('two apps linking one person at the same moment end with one user, never a 500', async (t) => {
  const A = { appid: 'wxtest000000000a', secret: 'secret-a', bound: false }
  const B = { appid: 'wxtest000000000b', secret: 'secret-b', bound: false }
  const { app, fake, prisma } = await build(t, { apps: [A, B], env: { WECHAT_APPS: JSON.stringify([A, B]) } })
  const people = Array.from({ length: 6 }, (_v, i) => `twin-${i}`)
  for (const person of people) { await login(app, fake, person, A.appid); await login(app, fake, person, B.appid) }
  t.match(await rowCounts(prisma), { users: 12 })
  fake.bind(A.appid)
  fake.bind(B.appid)
  const results = await Promise.all(people.flatMap((person) => [A, B].map((x) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(x.appid, person).code, appid: x.appid } }))))
  t.same(results.map((r) => r.statusCode), Array(12).fill(200), results.filter((r) => r.statusCode !== 200).map((r) => r.body).join('\n'))
  t.match(await rowCounts(prisma), { users: 6, identities: 12 })
})

t.test('attack: a hung Redis costs one time-out, then requests stop waiting on it, and it is logged', async (t) => {
  const { prefix } = await redisNamespace(t)
  const proxy = new TcpProxy(6379)
  const port = await proxy.listen(t)
  const { lines, logger } = capture()
  const { app, fake } = await build(t, { logger, env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: prefix } })
  await login(app, fake, 'alice')
  proxy.stall()
  await login(app, fake, 'alice')
  const afterFirst = proxy.stalledChunks
  t.ok(afterFirst >= 1, 'the first request found Redis hung')
  for (let i = 0; i < 5; i++) await login(app, fake, 'alice')
  t.equal(proxy.stalledChunks, afterFirst, 'later requests did not send Redis anything to wait on')
  const warnings = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40 && /redis/i.test(entry.msg))
  t.equal(warnings.length, 1, 'reported once')
})

t.test('attack: WeChat answering a partial phone_info gets a 502, not a 500', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const code = fake.phoneCode(APP.appid, PHONE)
  await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
  for (const body of [
    { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '13800138000', watermark: { appid: APP.appid, timestamp: 1 } } },
    { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' } },
    { errcode: 0, errmsg: 'ok', phone_info: null }
  ]) {
    fake.setFault({ body, times: 1 })
    const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code } })
    t.match(res.json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, JSON.stringify(body))
  }
})

t.test('attack: decrypted JSON nested 8000 deep is refused like any bad data, not a 500', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const deep = `{"watermark":{"appid":"${APP.appid}","timestamp":${Math.floor(Date.now() / 1000)}},"x":${'['.repeat(8000)}${']'.repeat(8000)}}`
  const res = await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(alice.accessToken), payload: sealWithKey(fake.sessionKey(APP.appid, 'alice')!, Buffer.from(deep)) })
  t.match(res.json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' })
  const rawData = `{"a":${'['.repeat(4000)}${']'.repeat(4000)}}`
  const signature = createHash('sha1').update(rawData + fake.sessionKey(APP.appid, 'alice')!).digest('hex')
  const verified = await app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(alice.accessToken), payload: { rawData, signature } })
  t.match(verified.json(), { statusCode: 400, code: 'RAW_DATA_INVALID' }, 'signed rawData nested 4000 deep')
})

t.test('attack: /readyz does not publish database errors', async (t) => {
  const { lines, logger } = capture()
  let now = Date.now()
  const { app, db } = await build(t, { logger, clock: () => now })
  const name = new URL(db.url).pathname.slice(1)
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS false`)
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name])
  t.teardown(async () => { await admin.query(`ALTER DATABASE "${name}" WITH ALLOW_CONNECTIONS true`); await admin.end() })
  // The first check meets the pooled connection the server just ended; the second a refused new one that names the database.
  for (let i = 0; i < 2; i++) {
    now += 2000 // past the one-second memory of the last verdict
    const res = await app.inject({ method: 'GET', url: '/readyz' })
    t.equal(res.statusCode, 503)
    t.notMatch(res.body, name, 'no database name in the answer')
    t.match(res.json(), { status: 'unavailable', reason: /^database (unreachable|check failed)$/ })
  }
  t.ok(lines.some((line) => line.includes(`database \\"${name}\\" is not currently accepting connections`)), 'the details are in the log')
})

t.test('attack: absurd durations are refused at start with the usual message', async (t) => {
  for (const [name, value] of <[string, string][]>[['SESSION_MAX_AGE', '25000d'], ['SESSION_MAX_AGE', '0'], ['ACCESS_TOKEN_TTL', '0'], ['ACCESS_TOKEN_TTL', '400d'],
    ['REFRESH_TOKEN_TTL', '0'], ['REFRESH_TOKEN_TTL', '99999d'], ['RATE_LIMIT_WINDOW', '0'], ['REFRESH_REUSE_GRACE', '30d']]) {
    t.throws(() => testConfig('postgresql://postgres@127.0.0.1:5432/x', { [name]: value }), { name: 'ConfigError', message: new RegExp(`${name}: must be`) }, `${name}=${value}`)
  }
  t.doesNotThrow(() => parseConfig({ NODE_ENV: 'test', REFRESH_REUSE_GRACE: '0', SESSION_MAX_AGE: '3650d' }))
})

t.test('attack: a client cannot choose its request id unless a trusted proxy sets the header named for it', async (t) => {
  const direct = (await build(t)).app
  const res = await direct.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'chosen-by-client' }, remoteAddress: '203.0.113.5' })
  t.not(res.headers['x-request-id'], 'chosen-by-client')
  const proxied = (await build(t, { env: { TRUST_PROXY: '10.0.0.1', REQUEST_ID_HEADER: 'x-request-id' } })).app
  const via = await proxied.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'from-the-proxy' }, remoteAddress: '10.0.0.1' })
  t.equal(via.headers['x-request-id'], 'from-the-proxy')
  const around = await proxied.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'around-the-proxy' }, remoteAddress: '203.0.113.5' })
  t.not(around.headers['x-request-id'], 'around-the-proxy')
})

t.test('attack: a client looping on bad encrypted data does not spend the app\'s WeChat quota', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const junk = sealWithKey(Buffer.alloc(16, 7).toString('base64'), { nickName: 'x' })
  for (let i = 0; i < 5; i++) {
    t.match((await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(alice.accessToken), payload: junk })).json(), { code: 'ENCRYPTED_DATA_INVALID' })
  }
  t.equal(fake.callCount('/wxa/checksession'), 1, 'the verdict is remembered for this key')
  const again = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(again.accessToken), payload: junk })
  t.equal(fake.callCount('/wxa/checksession'), 2, 'a new session_key is asked about afresh')
})
