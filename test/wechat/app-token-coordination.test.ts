import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { WechatAppTokens } from '../../src/wechat/app-token.js'
import { RedisAppTokenCache, type AppTokenCache } from '../../src/wechat/app-token-cache.js'
import { WechatClient } from '../../src/wechat/client.js'
import { WechatApiError } from '../../src/wechat/errors.js'
import { APP, REDIS_URL, build, redisNamespace, startFakeWechat } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

// The WeChat access_token shared by several instances through Redis
// (src/wechat/app-token.ts, app-token-cache.ts): one fetcher at a time under a
// lock, the others polling the cache. These are the branches where the fetcher
// does not do its part: it fails, it crashes holding the lock, another instance
// replaces the token under it, Redis goes away between lock and store. The test
// waits on events (a request held at the fake, a refused lock), never on time.

const STABLE_TOKEN = '/cgi-bin/stable_token'
const PHONE = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

async function wechatClient (t: Test, apiBase: string): Promise<WechatClient> {
  const wechat = new WechatClient({ apiBase, timeoutMs: 2000 })
  t.teardown(() => wechat.close())
  return wechat
}

/** A second Redis connection: another instance. */
async function otherConnection (t: Test): Promise<Redis> {
  const redis = new Redis(REDIS_URL)
  t.teardown(() => redis.quit())
  return redis
}

/** The cache as it is, plus an event: "tryLock has been refused n times" (this instance is waiting on another's lock). */
function watched (cache: AppTokenCache): { cache: AppTokenCache, lockRefused: (times?: number) => Promise<void> } {
  let refused = 0
  const waiters: { times: number, resolve: () => void }[] = []
  return {
    cache: {
      get: (appid) => cache.get(appid),
      set: (appid, token) => cache.set(appid, token),
      deleteIf: (appid, sealed) => cache.deleteIf(appid, sealed),
      tryLock: async (appid, ttlMs) => {
        const release = await cache.tryLock(appid, ttlMs)
        if (release === undefined) {
          refused++
          for (const waiter of waiters) if (waiter.times <= refused) waiter.resolve()
        }
        return release
      }
    },
    lockRefused: (times = 1) => new Promise<void>((resolve) => { if (refused >= times) resolve(); else waiters.push({ times, resolve }) })
  }
}

const keys = (prefix: string) => ({ token: `${prefix}wechat:access_token:${APP.appid}`, lock: `${prefix}wechat:access_token:lock:${APP.appid}` })

t.test('a waiter whose lock holder fails without storing a token takes the lock and fetches itself', async (t) => {
  const fake = await startFakeWechat(t)
  const wechat = await wechatClient(t, fake.url)
  const { redis, prefix } = await redisNamespace(t)
  const a = new WechatAppTokens(wechat, new RedisAppTokenCache(redis, prefix), { lockTtlMs: 60_000 })
  const b = watched(new RedisAppTokenCache(await otherConnection(t), prefix))
  const waiter = new WechatAppTokens(wechat, b.cache, { lockTtlMs: 60_000, pollMs: 5 })

  const held = fake.holdNext(STABLE_TOKEN)
  const holder = a.get(APP).catch((error: unknown) => error)
  await held.reached
  const waiting = waiter.get(APP)
  await b.lockRefused()
  // The holder's fetch fails: WeChat answers its stable_token with a gateway error.
  fake.setFault({ status: 502, path: STABLE_TOKEN, times: 1 })
  held.release()

  t.match(await holder, { code: 'WECHAT_UNAVAILABLE', statusCode: 502 }, 'the holder fails')
  t.match(await waiting, /^AT_/, 'the waiter did not wait out the lock\'s 60 s: it took the released lock and fetched')
  t.equal(fake.callCount(STABLE_TOKEN), 2)
  t.ok(await redis.get(keys(prefix).token), 'and stored the token for everyone')
  t.equal(await redis.get(keys(prefix).lock), null, 'no lock left behind')
})

t.test('a waiter gives up with 504 WECHAT_TIMEOUT while a crashed holder\'s lock stands, fetching nothing and leaving the lock alone', async (t) => {
  const fake = await startFakeWechat(t)
  const { redis, prefix } = await redisNamespace(t)
  await redis.set(keys(prefix).lock, 'a-crashed-holder', 'PX', 60_000)
  let now = Date.now()
  const b = watched(new RedisAppTokenCache(await otherConnection(t), prefix))
  const waiter = new WechatAppTokens(await wechatClient(t, fake.url), b.cache, { waitMs: 10_000, pollMs: 5, now: () => now })

  const waiting = waiter.get(APP).catch((error: unknown) => error)
  await b.lockRefused()
  now += 10_001
  t.match(await waiting, { code: 'WECHAT_TIMEOUT', statusCode: 504 })
  t.equal(fake.callCount(STABLE_TOKEN), 0, 'no fetch behind the holder\'s back')
  t.equal(await redis.get(keys(prefix).lock), 'a-crashed-holder', 'the lock was neither taken nor deleted')
})

t.test('a lock left by a crashed holder carries its TTL; once it runs out the next caller fetches', async (t) => {
  const fake = await startFakeWechat(t)
  const wechat = await wechatClient(t, fake.url)
  const { redis, prefix } = await redisNamespace(t)
  const crashed = new WechatAppTokens(wechat, new RedisAppTokenCache(redis, prefix), { lockTtlMs: 30_000 })
  const b = watched(new RedisAppTokenCache(await otherConnection(t), prefix))
  const waiter = new WechatAppTokens(wechat, b.cache, { pollMs: 5 })

  // The holder takes the lock and never comes back (its stable_token call is held).
  const held = fake.holdNext(STABLE_TOKEN)
  const gone = crashed.get(APP)
  await held.reached
  const ttl = await redis.pttl(keys(prefix).lock)
  t.ok(ttl > 0 && ttl <= 30_000, `the lock expires by itself (PTTL ${ttl} ms)`)

  const waiting = waiter.get(APP)
  await b.lockRefused(2)
  t.equal(fake.callCount(STABLE_TOKEN), 1, 'the waiter waits while the lock stands')
  await redis.pexpire(keys(prefix).lock, 1) // its TTL runs out
  const token = await waiting
  t.match(token, /^AT_/)
  t.equal(fake.callCount(STABLE_TOKEN), 2, 'the waiter fetched once the lock was gone')
  t.equal(await redis.get(keys(prefix).lock), null, 'and released its own lock')

  held.release()
  t.equal(await gone, token, 'normal mode: the late holder got the same token')
})

t.test('deleteIf leaves a token another instance already replaced: the retry uses it, no third fetch', async (t) => {
  const fake = await startFakeWechat(t)
  const wechat = await wechatClient(t, fake.url)
  const { redis, prefix } = await redisNamespace(t)
  const a = new WechatAppTokens(wechat, new RedisAppTokenCache(redis, prefix))
  const b = new WechatAppTokens(wechat, new RedisAppTokenCache(await otherConnection(t), prefix))

  const t1 = await a.get(APP)
  fake.invalidateAccessToken(APP.appid) // as if WeChat rotated it: T1 now gets 40001
  let t2 = ''
  const used: string[] = []
  const result = await a.withToken(APP, async (token) => {
    used.push(token)
    if (used.length > 1) return token
    // While A's call with T1 is out, B meets 40001 first and replaces the token.
    t2 = await b.withToken(APP, async (token) => { if (token === t1) throw new WechatApiError(40001); return token })
    throw new WechatApiError(40001)
  })
  t.not(t2, t1, 'B stored a new token')
  t.same(used, [t1, t2], 'A\'s retry used the token B stored')
  t.equal(result, t2)
  t.equal(fake.callCount(STABLE_TOKEN), 2, 'A\'s deleteIf did not drop B\'s token: no third fetch')
  t.equal(await a.get(APP), t2, 'the cache still holds it')
  t.equal(fake.callCount(STABLE_TOKEN), 2)
})

t.test('Redis cut between taking the lock and storing the token: the call still succeeds, the instance keeps the token, the lock expires by itself', async (t) => {
  const { redis, prefix } = await redisNamespace(t)
  const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname)
  const port = await proxy.listen(t)
  const { app, fake } = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: prefix } })
  const alice = await login(app, fake, 'alice')
  const phone = () => app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })

  const held = fake.holdNext(STABLE_TOKEN)
  const pending = phone()
  await held.reached
  t.ok(await redis.get(keys(prefix).lock), 'the fetcher holds the lock in Redis')
  await proxy.cut()
  held.release()

  const res = await pending
  t.equal(res.statusCode, 200, 'the phone call went through on the token just fetched')
  t.equal(await redis.get(keys(prefix).token), null, 'the token never reached Redis')
  const ttl = await redis.pttl(keys(prefix).lock)
  t.ok(ttl > 0 && ttl <= 10_000, `the lock whose release was lost expires by itself (PTTL ${ttl} ms)`)

  t.equal((await phone()).statusCode, 200, 'Redis still cut: the next call works')
  t.equal(fake.callCount(STABLE_TOKEN), 1, 'from the token this instance kept: no second fetch')
})
