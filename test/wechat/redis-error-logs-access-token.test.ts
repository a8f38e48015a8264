import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { APP, build, redisNamespace } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { capture } from '../helpers/log.js'

// ioredis attaches the failed command's arguments to its errors (ReplyError:
// err.command = { name, args }; AbortError on a dropped connection likewise),
// and pino's err serializer copies every enumerable property. The first Redis
// failure is logged with { err } (plugins/redis.ts RedisHealth.failed). When
// that failure is the SET of the WeChat access_token (wechat/token-store.ts,
// value = JSON with the token in clear), the token lands in the log: the
// redaction list only has exact top-level paths ('access_token', 'accessToken').

const PHONE = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

/** A Redis relay that refuses (or drops the connection on) the SET that stores the WeChat access_token. */
async function tokenWriteBreaker (t: Test, mode: 'readonly' | 'drop'): Promise<number> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(6379, '127.0.0.1')
    sockets.add(client); sockets.add(upstream)
    client.on('data', (chunk) => {
      const text = chunk.toString('latin1')
      if (/wechat:access_token:[^:\r]+\r\n/.test(text) && text.includes('accessToken') && /\bset\b/i.test(text)) {
        if (mode === 'readonly') client.write("-READONLY You can't write against a read only replica.\r\n")
        else { client.destroy(); upstream.destroy() }
        return
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk) => client.write(chunk))
    for (const s of [client, upstream]) { s.on('error', () => {}); s.on('close', () => { client.destroy(); upstream.destroy() }) }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); return new Promise<void>((resolve) => server.close(() => resolve())) })
  return (server.address() as AddressInfo).port
}

for (const mode of ['readonly'] as const) {
  t.test(`attack (${mode}): a failed Redis write of the WeChat access_token puts the token in the log`, async (t) => {
    const { prefix } = await redisNamespace(t)
    const port = await tokenWriteBreaker(t, mode)
    const { lines, logger } = capture()
    const { app, fake } = await build(t, { logger, env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: prefix } })
    const alice = await login(app, fake, 'alice')
    const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
    t.equal(res.statusCode, 200, 'the phone call itself still works (local fallback)')
    const accessToken = (fake as unknown as { accessTokens: Map<string, string> }).accessTokens.get(APP.appid)!
    t.ok(accessToken.startsWith('AT_'))
    const leaking = lines.filter((line) => line.includes(accessToken))
    for (const line of leaking) t.comment(JSON.stringify(JSON.parse(line).err?.command ?? line).slice(0, 300))
    // The guarantee: nothing secret in the logs. This assertion Failed on cd7c1d9.
    t.equal(leaking.length, 0, "the app's WeChat access_token must not appear in the log")
  })
}

t.test('finding: Redis holds the WeChat access_token in usable form', async (t) => {
  const { redis, prefix } = await redisNamespace(t)
  const { REDIS_URL } = await import('../helper.js')
  const { app, fake } = await build(t, { env: { REDIS_URL, REDIS_PREFIX: prefix } })
  const alice = await login(app, fake, 'alice')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })).statusCode, 200)
  const stored = await redis.get(`${prefix}wechat:access_token:${APP.appid}`)
  const accessToken = (fake as unknown as { accessTokens: Map<string, string> }).accessTokens.get(APP.appid)!
  t.comment(`redis value: ${stored}`)
  // Anyone who can read Redis can call WeChat's server APIs as the app (getuserphonenumber, messages...).
  // This assertion Failed on cd7c1d9.
  t.notOk(stored?.includes(accessToken), 'the access_token is not stored in clear')
})
