import t, { type Test } from 'tap'
import { FakeWechat } from '../../src/dev/fake-wechat.js'
import { WechatClient } from '../../src/wechat/client.js'
import { APP, startFakeWechat } from '../helper.js'

async function setup (t: Test, timeoutMs = 1000): Promise<{ fake: FakeWechat, client: WechatClient }> {
  const fake = await startFakeWechat(t)
  const client = new WechatClient({ apiBase: fake.url, timeoutMs, busyBackoffMs: 10 })
  t.teardown(() => client.close())
  return { fake, client }
}

t.test('code2session returns openid, session_key and unionid', async (t) => {
  const { fake, client } = await setup(t)
  const { code } = fake.login(APP.appid, 'alice')
  t.same(await client.code2session(APP, code), {
    openid: fake.openid(APP.appid, 'alice'),
    sessionKey: fake.sessionKey(APP.appid, 'alice'),
    unionid: fake.unionid('alice')
  })
})

t.test('the client speaks WeChat: a refusal is thrown with its errcode, for the calling service to read', async (t) => {
  const { fake, client } = await setup(t)
  await t.rejects(client.code2session(APP, 'unknown'), { name: 'WechatApiError', errcode: 40029, errmsg: /invalid code/ })
  const { code } = fake.login(APP.appid, 'bob')
  await client.code2session(APP, code)
  await t.rejects(client.code2session(APP, code), { name: 'WechatApiError', errcode: 40163 })
  fake.block('mallory')
  await t.rejects(client.code2session(APP, fake.login(APP.appid, 'mallory').code), { name: 'WechatApiError', errcode: 40226 })
  await t.rejects(client.code2session({ ...APP, secret: 'wrong' }, 'x'), { name: 'WechatApiError', errcode: 40125 })
  await t.rejects(client.code2session({ ...APP, appid: 'wxother' }, 'x'), { name: 'WechatApiError', errcode: 40013 })
  fake.setFault({ errcode: 45011 })
  await t.rejects(client.code2session(APP, 'x'), { name: 'WechatApiError', errcode: 45011 })
  fake.setFault({ errcode: 40999 })
  const unknown = await client.code2session(APP, 'x').catch((e: unknown) => e)
  t.match(unknown, { name: 'WechatApiError', errcode: 40999 })
  t.notOk((unknown as { statusCode?: number }).statusCode, 'no HTTP meaning of its own')
})

t.test('-1 (busy) is retried with backoff, a bounded number of times', async (t) => {
  const { fake, client } = await setup(t)
  fake.setFault({ errcode: -1, times: 2 })
  const { code, openid } = fake.login(APP.appid, 'carol')
  t.equal((await client.code2session(APP, code)).openid, openid, 'third attempt succeeds')
  t.equal(fake.callCount('/sns/jscode2session'), 3)
  fake.setFault({ errcode: -1 })
  await t.rejects(client.code2session(APP, 'x'), { name: 'WechatApiError', errcode: -1 })
  t.equal(fake.callCount('/sns/jscode2session'), 6, 'gave up after 3 attempts')
})

t.test('other errors are not retried', async (t) => {
  const { fake, client } = await setup(t)
  await t.rejects(client.code2session(APP, 'x'), { name: 'WechatApiError', errcode: 40029 })
  t.equal(fake.callCount('/sns/jscode2session'), 1)
})

t.test('faults: gateway 5xx, malformed body, reset connection, slowness', async (t) => {
  const { fake, client } = await setup(t, 300)
  fake.setFault({ status: 502 })
  await t.rejects(client.code2session(APP, 'x'), { code: 'WECHAT_UNAVAILABLE', statusCode: 502 })
  fake.setFault({ malformed: true })
  await t.rejects(client.code2session(APP, 'x'), { code: 'WECHAT_UNAVAILABLE' })
  fake.setFault({ reset: true })
  await t.rejects(client.code2session(APP, 'x'), { code: 'WECHAT_UNAVAILABLE' })
  fake.setFault({ delayMs: 1000 })
  const started = Date.now()
  await t.rejects(client.code2session(APP, 'x'), { code: 'WECHAT_TIMEOUT', statusCode: 504 })
  t.ok(Date.now() - started < 900, 'gave up at the timeout, not when WeChat answered')
})

t.test('a success body without openid is not taken for a success', async (t) => {
  const { fake, client } = await setup(t)
  fake.setFault({ errcode: 0 })
  await t.rejects(client.code2session(APP, 'x'), { code: 'WECHAT_UNAVAILABLE' })
})
