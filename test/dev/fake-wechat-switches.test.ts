import t, { type Test } from 'tap'
import { request } from 'undici'
import { FakeWechat } from '../../src/dev/fake-wechat.js'

// The fake's test switches: a fault limited to one path, a held request, and a
// wx.login() that keeps the user's session_key.

const APP = { appid: 'wxfake000000000001', secret: 'fake-secret-1' }

async function start (t: Test): Promise<FakeWechat> {
  const fake = new FakeWechat([APP])
  await fake.listen()
  t.teardown(() => fake.close())
  return fake
}

const stableToken = async (fake: FakeWechat) =>
  (await request(`${fake.url}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: APP.appid, secret: APP.secret }) })).body.json() as Promise<Record<string, unknown>>
const checkSession = async (fake: FakeWechat) =>
  (await request(`${fake.url}/wxa/checksession?access_token=none`)).body.json() as Promise<Record<string, unknown>>

t.test('a fault with a path hits only that path, and counts only its requests', async (t) => {
  const fake = await start(t)
  fake.setFault({ errcode: 45011, path: '/wxa/checksession', times: 1 })
  t.match(await stableToken(fake), { access_token: /^AT_/ }, 'another path is answered as usual')
  t.match(await checkSession(fake), { errcode: 45011 }, 'the path named gets the fault')
  t.match(await checkSession(fake), { errcode: 40001 }, 'once: times counted only on that path')
})

t.test('holdNext keeps the next request to a path unanswered until released, and only that one', async (t) => {
  const fake = await start(t)
  const held = fake.holdNext('/cgi-bin/stable_token')
  let answered = false
  const first = stableToken(fake).then((body) => { answered = true; return body })
  await held.reached
  const second = await stableToken(fake)
  t.match(second, { access_token: /^AT_/ }, 'a later request is answered at once')
  t.notOk(answered, 'the held one is still waiting')
  held.release()
  t.same(await first, second, 'then answered as usual')
})

t.test('login with sameSessionKey keeps the session_key; without it the key rotates', async (t) => {
  const fake = await start(t)
  fake.login(APP.appid, 'alice', { sameSessionKey: true })
  const first = fake.sessionKey(APP.appid, 'alice')
  t.ok(first, 'a first login has a key either way')
  const { code } = fake.login(APP.appid, 'alice', { sameSessionKey: true })
  t.equal(fake.sessionKey(APP.appid, 'alice'), first)
  const query = new URLSearchParams({ appid: APP.appid, secret: APP.secret, js_code: code, grant_type: 'authorization_code' })
  t.match(await (await request(`${fake.url}/sns/jscode2session?${query}`)).body.json(), { session_key: first }, 'jscode2session answers the same key')
  fake.login(APP.appid, 'alice')
  t.not(fake.sessionKey(APP.appid, 'alice'), first)
})
