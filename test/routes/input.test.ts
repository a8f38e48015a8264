import { createHash } from 'node:crypto'
import t from 'tap'
import { signRawData } from '../../src/dev/fake-wechat-data.js'
import { APP, build } from '../helper.js'
import { bearer, login, rowCounts } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// Every POST route gets the same battery of bad input; each answer must be a
// 4xx with a machine-readable code, never a 5xx, and no row may appear.

const HUGE = 'x'.repeat(70 * 1024)
const ODD_STRINGS = ['', ' ', '\u0000', '\ud800', '\u202e\u0041', '\u200b'.repeat(50), '🐼'.repeat(300), 'é'.repeat(5000), '../../etc/passwd', "'; DROP TABLE users; --", '{"$ne":null}', '\\u0000']
const WRONG_TYPES = [null, 42, -1.5, true, [], ['a'], {}, { nested: { deep: 1 } }]

interface Probe { name: string, payload?: string, contentType?: string }

function battery (fields: string[]): Probe[] {
  const probes: Probe[] = [
    { name: 'invalid JSON', payload: '{"code":', contentType: 'application/json' },
    { name: 'JSON with trailing garbage', payload: '{} x', contentType: 'application/json' },
    { name: 'empty body with JSON type', payload: '', contentType: 'application/json' },
    { name: 'text/plain', payload: 'code=abc', contentType: 'text/plain' },
    { name: 'form encoded', payload: 'code=abc', contentType: 'application/x-www-form-urlencoded' },
    { name: 'multipart', payload: '--x\r\n\r\n--x--', contentType: 'multipart/form-data; boundary=x' },
    { name: 'over the body limit', payload: JSON.stringify({ [fields[0] ?? 'x']: HUGE }), contentType: 'application/json' },
    { name: 'a JSON array', payload: '[]', contentType: 'application/json' },
    { name: 'a JSON string', payload: '"x"', contentType: 'application/json' },
    { name: 'JSON null', payload: 'null', contentType: 'application/json' },
    { name: 'unknown property', payload: JSON.stringify({ unexpected: 1 }), contentType: 'application/json' },
    { name: '__proto__ pollution', payload: '{"__proto__":{"admin":true}}', contentType: 'application/json' }
  ]
  for (const field of fields) {
    for (const value of WRONG_TYPES) probes.push({ name: `${field}=${JSON.stringify(value)}`, payload: JSON.stringify({ [field]: value }), contentType: 'application/json' })
    for (const value of ODD_STRINGS) probes.push({ name: `${field}=${JSON.stringify(value).slice(0, 20)}`, payload: JSON.stringify({ [field]: value }), contentType: 'application/json' })
  }
  return probes
}

// Logout last: once it succeeds, the token stops reaching the other routes' validation.
const ROUTES: { url: string, fields: string[], auth: boolean }[] = [
  { url: '/v1/auth/login', fields: ['code', 'appid'], auth: false },
  { url: '/v1/auth/refresh', fields: ['refreshToken'], auth: false },
  { url: '/v1/auth/decrypt', fields: ['encryptedData', 'iv'], auth: true },
  { url: '/v1/auth/verify', fields: ['rawData', 'signature'], auth: true },
  { url: '/v1/auth/phone', fields: ['code'], auth: true },
  { url: '/v1/auth/logout', fields: [], auth: true },
  { url: '/v1/auth/logout-all', fields: [], auth: true }
]

t.test('the battery covers every POST route the API documents', async (t) => {
  const { app } = await build(t)
  const spec = app.swagger() as { paths: Record<string, Record<string, unknown>> }
  const documentedPosts = Object.entries(spec.paths).filter(([, ops]) => 'post' in ops).map(([path]) => path).sort()
  t.same(documentedPosts, ROUTES.map((r) => r.url).sort())
})

t.test('bad input to every POST route: a 4xx with a code, never a 5xx, nothing written', async (t) => {
  const { app, fake, prisma } = await build(t)
  // Probes that log in would change the row count; the battery runs as an established user.
  const user = await login(app, fake, 'alice')
  const before = await rowCounts(prisma)
  let sent = 0
  const wrong: string[] = []
  for (const route of ROUTES) {
    for (const probe of battery(route.fields)) {
      const res = await app.inject({
        method: 'POST',
        url: route.url,
        headers: { ...(probe.contentType !== undefined ? { 'content-type': probe.contentType } : {}), ...(route.auth ? bearer(user.accessToken) : {}) },
        ...(probe.payload !== undefined ? { payload: probe.payload } : {})
      })
      sent++
      const body = res.body === '' ? {} : res.json()
      const ok = res.statusCode >= 400 && res.statusCode < 500 && typeof body.code === 'string' && body.code.length > 0
      // Logout takes no body: one it can ignore (valid JSON) is a legitimate 204.
      if (!ok && !(res.statusCode === 204 && route.fields.length === 0)) wrong.push(`${route.url} ${probe.name}: ${res.statusCode} ${res.body.slice(0, 200)}`)
    }
  }
  t.same(wrong, [], `each of ${sent} probes answered with a 4xx and a code`)
  const after = await rowCounts(prisma)
  t.same({ ...after, sessions: before.sessions, tokens: before.tokens }, before, 'no user or identity appeared')
  t.equal(after.tokens, before.tokens, 'no refresh token appeared')
  t.ok(fake.callCount('/sns/jscode2session') < 10, 'only well-formed codes reached WeChat')
})

t.test('strings from WeChat are stored safely: NUL dropped, lone surrogates replaced, emoji kept', async (t) => {
  const { app, fake } = await build(t)
  const user = await login(app, fake, 'alice')
  const rawData = JSON.stringify({ nickName: 'a\u0000b\ud800c🐼', city: 'x'.repeat(500) })
  const signature = signRawData(rawData, fake.sessionKey(APP.appid, 'alice')!)
  const res = await app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(user.accessToken), payload: { rawData, signature } })
  t.equal(res.statusCode, 200)
  const me = (await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(user.accessToken) })).json()
  t.equal(me.nickname, 'ab\ufffdc🐼')
  t.equal(me.city.length, 128, 'cut to the column size')
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
