import type { InjectOptions } from 'fastify'
import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer } from '../helpers/auth.js'
import { capture } from '../helpers/log.js'

t.test('a full login/refresh/decrypt/verify/phone/logout flow logs one line per request and no secret', async (t) => {
  const { lines, logger } = capture('debug')
  // The request id a trusted proxy (here: the loopback peer inject uses) sets in the named header is kept.
  const { app, fake } = await build(t, { logger, env: { TRUST_PROXY: '127.0.0.1', REQUEST_ID_HEADER: 'x-request-id' } })
  const secrets: string[] = [APP.secret]
  const send = async (options: InjectOptions) => app.inject(options)

  const { code } = fake.login(APP.appid, 'alice')
  secrets.push(code)
  const login = (await send({ method: 'POST', url: '/v1/auth/login', payload: { code } })).json()
  secrets.push(login.accessToken, login.refreshToken, fake.sessionKey(APP.appid, 'alice')!)
  const sealed = fake.userInfo(APP.appid, 'alice', { nickName: 'Alice' })
  secrets.push(sealed.encryptedData, sealed.iv, sealed.signature)
  await send({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(login.accessToken), payload: { encryptedData: sealed.encryptedData, iv: sealed.iv } })
  await send({ method: 'POST', url: '/v1/auth/verify', headers: bearer(login.accessToken), payload: { rawData: sealed.rawData, signature: sealed.signature } })
  const phoneCode = fake.phoneCode(APP.appid, { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  secrets.push(phoneCode)
  await send({ method: 'POST', url: '/v1/auth/phone', headers: bearer(login.accessToken), payload: { code: phoneCode } })
  const refreshed = (await send({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: login.refreshToken } })).json()
  secrets.push(refreshed.accessToken, refreshed.refreshToken)
  await send({ method: 'GET', url: '/v1/me', headers: bearer(refreshed.accessToken) })
  // Failures log more (errors with their causes): WeChat refusing our secret, a bad code, a reused token.
  fake.setFault({ errcode: 40125, times: 1 })
  const rejected = fake.login(APP.appid, 'alice').code
  secrets.push(rejected)
  await send({ method: 'POST', url: '/v1/auth/login', payload: { code: rejected } })
  await send({ method: 'POST', url: '/v1/auth/login', payload: { code: 'not-a-real-code-123' } })
  await send({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: login.refreshToken } })
  const last = await send({ method: 'POST', url: '/v1/auth/logout', headers: { ...bearer(refreshed.accessToken), 'x-request-id': 'trace-abc-123' } })

  const output = lines.join('\n')
  for (const secret of secrets) t.notOk(output.includes(secret), `secret of ${secret.length} chars absent from the log`)
  t.notMatch(output, /not-a-real-code-123/)
  t.notMatch(output, /authorization/i)

  const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request')
  t.equal(requests.length, 10, 'one line per request')
  t.ok(requests.every((entry) => typeof entry.reqId === 'string' && typeof entry.status === 'number' && typeof entry.ms === 'number'))
  t.match(requests.at(-1), { reqId: 'trace-abc-123', method: 'POST', path: '/v1/auth/logout', status: 204, userId: login.user.id })
  t.equal(last.headers['x-request-id'], 'trace-abc-123', 'the request id is echoed to the client')
  t.ok(lines.some((line) => JSON.parse(line).level === 50 && /WECHAT_CONFIG_INVALID/.test(line)), 'the config error is logged loudly (level error)')
})

t.test('request ids: generated when absent or malformed', async (t) => {
  const { app } = await build(t)
  const plain = await app.inject({ method: 'GET', url: '/healthz' })
  t.match(plain.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const hostile = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\n{"level":60}' } })
  t.match(hostile.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('attack: a client\'s 15 KB path does not make 15 KB log lines', async (t) => {
  const { lines, logger } = capture('debug')
  const { app } = await build(t, { logger })
  // Node takes a request line up to its 16 KB header limit; every request logs its path.
  for (const url of ['/' + 'A'.repeat(15_000), '/v1/auth/login/' + 'B'.repeat(15_000) + '?x=1', '/%E4%BD%A0' + 'C'.repeat(15_000)]) {
    await app.inject({ method: 'GET', url })
  }
  const longest = Math.max(...lines.map((line) => line.length))
  t.ok(longest <= 1024, `longest log line: ${longest} characters`)
  const logged = lines.map((line) => JSON.parse(line) as { msg: string, path?: string }).filter((line) => line.msg === 'request')
  t.equal(logged.length, 3, 'each request still logged')
  t.match(logged[0]!.path, /^\/A+…$/, 'the path, cut, and marked as cut')
})
