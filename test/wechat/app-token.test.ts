import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { WechatAppTokens } from '../../src/wechat/app-token.js'
import { WechatClient } from '../../src/wechat/client.js'
import { MemoryAppTokenCache, RedisAppTokenCache } from '../../src/wechat/app-token-cache.js'
import { APP, REDIS_URL, build, redisNamespace, startFakeWechat } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

const STABLE_TOKEN = '/cgi-bin/stable_token'

async function client (t: Test, apiBase: string): Promise<WechatClient> {
  const wechat = new WechatClient({ apiBase, timeoutMs: 2000 })
  t.teardown(() => wechat.close())
  return wechat
}

t.test('50 concurrent callers in one process make one stable_token fetch, then the cache answers', async (t) => {
  const fake = await startFakeWechat(t)
  const tokens = new WechatAppTokens(await client(t, fake.url), new MemoryAppTokenCache())
  const results = await Promise.all(Array.from({ length: 50 }, () => tokens.get(APP)))
  t.equal(new Set(results).size, 1)
  t.match(results[0], /^AT_/)
  t.equal(fake.callCount(STABLE_TOKEN), 1)
  await tokens.get(APP)
  t.equal(fake.callCount(STABLE_TOKEN), 1, 'cached')
})

t.test('a token is dropped shortly before WeChat expires it', async (t) => {
  const fake = await startFakeWechat(t)
  let now = Date.now()
  // expires_in is 7200 s; with the default 5-minute margin the token is used for 6900 s.
  const tokens = new WechatAppTokens(await client(t, fake.url), new MemoryAppTokenCache(), { now: () => now })
  await tokens.get(APP)
  now += 6_899_000
  await tokens.get(APP)
  t.equal(fake.callCount(STABLE_TOKEN), 1, 'still in use a second before the margin')
  now += 2_000
  await tokens.get(APP)
  t.equal(fake.callCount(STABLE_TOKEN), 2, 'fetched again inside the margin')
})

t.test('two instances sharing Redis: 100 concurrent callers, one fetch, the key names the appid', async (t) => {
  const fake = await startFakeWechat(t)
  const wechat = await client(t, fake.url)
  const one = await redisNamespace(t)
  const two = new Redis(REDIS_URL)
  t.teardown(() => two.quit())
  const a = new WechatAppTokens(wechat, new RedisAppTokenCache(one.redis, one.prefix))
  const b = new WechatAppTokens(wechat, new RedisAppTokenCache(two, one.prefix))
  const results = await Promise.all(Array.from({ length: 100 }, (_v, i) => (i % 2 === 0 ? a : b).get(APP)))
  t.equal(new Set(results).size, 1)
  t.equal(fake.callCount(STABLE_TOKEN), 1)
  t.ok(await one.redis.get(`${one.prefix}wechat:access_token:${APP.appid}`), 'cache key includes the appid')
  t.equal(await one.redis.get(`${one.prefix}wechat:access_token:lock:${APP.appid}`), null, 'the lock was released')
})

t.test('40001 (token replaced elsewhere): fetch a fresh token once and retry the call', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const phone = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
  const call = () => app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(a.accessToken), payload: { code: fake.phoneCode(APP.appid, phone) } })
  t.equal((await call()).statusCode, 200)
  t.equal(fake.callCount(STABLE_TOKEN), 1)
  fake.invalidateAccessToken(APP.appid)
  t.equal((await call()).statusCode, 200, 'the retry succeeded')
  t.equal(fake.callCount(STABLE_TOKEN), 2)
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), 3, 'one failed call, one retry, plus the first')
})

t.test('a token signed for an app no longer configured reaches no WeChat API', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const claims = app.jwt.decode<{ sub: string, sid: string }>(alice.accessToken)!
  const removed = app.signAccessToken({ sub: claims.sub, sid: claims.sid, appid: 'wxremovedapp0000' })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(removed), payload: { code: fake.phoneCode(APP.appid, { phoneNumber: '1', purePhoneNumber: '1', countryCode: '86' }) } })
  t.match(res.json(), { statusCode: 400, code: 'APP_UNKNOWN' })
  t.equal(fake.callCount(STABLE_TOKEN), 0)
})
