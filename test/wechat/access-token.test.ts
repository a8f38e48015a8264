import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { AccessTokens } from '../../src/wechat/access-token.js'
import { WechatClient } from '../../src/wechat/client.js'
import { MemoryTokenStore, RedisTokenStore } from '../../src/wechat/token-store.js'
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
  const tokens = new AccessTokens(await client(t, fake.url), new MemoryTokenStore(), [APP])
  const results = await Promise.all(Array.from({ length: 50 }, () => tokens.get(APP.appid)))
  t.equal(new Set(results).size, 1)
  t.match(results[0], /^AT_/)
  t.equal(fake.callCount(STABLE_TOKEN), 1)
  await tokens.get(APP.appid)
  t.equal(fake.callCount(STABLE_TOKEN), 1, 'cached')
})

t.test('a token is dropped shortly before WeChat expires it', async (t) => {
  const fake = await startFakeWechat(t)
  // expires_in is 7200 s; a margin of 7200 s minus 100 ms leaves 100 ms of use.
  const tokens = new AccessTokens(await client(t, fake.url), new MemoryTokenStore(), [APP], { refreshMarginMs: 7_200_000 - 100 })
  await tokens.get(APP.appid)
  await tokens.get(APP.appid)
  t.equal(fake.callCount(STABLE_TOKEN), 1)
  await new Promise((resolve) => setTimeout(resolve, 150))
  await tokens.get(APP.appid)
  t.equal(fake.callCount(STABLE_TOKEN), 2)
})

t.test('two instances sharing Redis: 100 concurrent callers, one fetch, the key names the appid', async (t) => {
  const fake = await startFakeWechat(t)
  const wechat = await client(t, fake.url)
  const one = await redisNamespace(t)
  const two = new Redis(REDIS_URL)
  t.teardown(() => two.quit())
  const a = new AccessTokens(wechat, new RedisTokenStore(one.redis, one.prefix), [APP])
  const b = new AccessTokens(wechat, new RedisTokenStore(two, one.prefix), [APP])
  const results = await Promise.all(Array.from({ length: 100 }, (_v, i) => (i % 2 === 0 ? a : b).get(APP.appid)))
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

t.test('an access_token for an app that is not configured is refused', async (t) => {
  const fake = await startFakeWechat(t)
  const tokens = new AccessTokens(await client(t, fake.url), new MemoryTokenStore(), [APP])
  await t.rejects(tokens.get('wxnotconfigured'), { code: 'APP_UNKNOWN' })
})
