import t from 'tap'
import { APP, build } from '../helper.js'
import { capture } from '../helpers/log.js'

// The error handler answers a service error with its own status, code, message
// and headers; what it knows for the log (an upstream errcode, why a key failed)
// stays in the log, and who it was about goes to the audit trail.

interface Row { outcome: string, appid: string | null }

t.test('a refusal answers with its catalogue entry; its errcode reaches the log, never the client', async (t) => {
  const { lines, logger } = capture()
  const { app } = await build(t, { logger })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: 'nosuchcode0000000000000000000000' } })
  t.same(res.json(), { statusCode: 401, code: 'WECHAT_CODE_INVALID', error: 'Unauthorized', message: 'code invalid or expired: call wx.login again' })
  const rejected = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request rejected')
  t.match(rejected, [{ errorCode: 'WECHAT_CODE_INVALID', detail: { errcode: 40029 } }], 'the errcode WeChat gave is in the log')
})

t.test('a 5xx refusal keeps its own message and is logged whole, errcode included', async (t) => {
  const { lines, logger } = capture()
  const { app, fake } = await build(t, { logger })
  fake.setFault({ errcode: 40013, times: 1 })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'alice').code } })
  t.same(res.json(), { statusCode: 500, code: 'WECHAT_CONFIG_INVALID', error: 'Internal Server Error', message: 'the service is misconfigured for WeChat (AppID or AppSecret rejected)' })
  const failed = lines.filter((line) => line.includes('"request failed"'))
  t.equal(failed.length, 1)
  t.match(failed[0], /"errcode":40013/, 'the errcode is in the log line')
  t.notMatch(failed[0], APP.secret, 'the app secret is not')
})

t.test('a login that fails for a reason of ours (a 500) is still recorded against its app', async (t) => {
  const built = await build(t)
  const { app, fake, prisma } = built
  await prisma.$executeRawUnsafe('ALTER TABLE identities RENAME TO identities_gone')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(APP.appid, 'alice').code } })
  t.same(res.json(), { statusCode: 500, code: 'INTERNAL_ERROR', error: 'Internal Server Error', message: 'internal error' })
  await app.audit.flush()
  const rows = await prisma.$queryRaw<Row[]>`SELECT outcome, appid FROM auth_events WHERE type = 'login'`
  t.same(rows, [{ outcome: 'INTERNAL_ERROR', appid: APP.appid }])
})
