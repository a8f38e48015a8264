import { createDecipheriv } from 'node:crypto'
import t, { type Test } from 'tap'
import { request } from 'undici'
import { checkSessionSignature } from '../../src/dev/fake-wechat-data.js'
import { FakeWechat } from '../../src/dev/fake-wechat.js'

const APP = { appid: 'wxfake000000000001', secret: 'fake-secret-1' }

async function start (t: Test, now?: () => number, apps = [APP]): Promise<FakeWechat> {
  const fake = new FakeWechat(apps, now)
  await fake.listen()
  t.teardown(() => fake.close())
  return fake
}

async function exchange (fake: FakeWechat, code: string, { appid = APP.appid, secret = APP.secret } = {}) {
  const query = new URLSearchParams({ appid, secret, js_code: code, grant_type: 'authorization_code' })
  const res = await request(`${fake.url}/sns/jscode2session?${query}`)
  return { status: res.statusCode, body: await res.body.json() as Record<string, unknown> }
}

t.test('a code from wx.login exchanges once for openid, session_key and unionid, with no errcode', async (t) => {
  const fake = await start(t)
  const { code, openid } = fake.login(APP.appid, 'alice')
  const { status, body } = await exchange(fake, code)
  t.equal(status, 200)
  t.same(Object.keys(body).sort(), ['openid', 'session_key', 'unionid'])
  t.equal(body.openid, openid)
  t.equal(body.session_key, fake.sessionKey(APP.appid, 'alice'))
  t.equal(Buffer.from(body.session_key as string, 'base64').length, 16)
  t.equal(body.unionid, fake.unionid('alice'))
  t.match(await exchange(fake, code), { body: { errcode: 40163 } }, 'the same code again: already used')
})

t.test('openid is per app and unionid per person; unbound apps omit unionid', async (t) => {
  const other = { appid: 'wxfake000000000002', secret: 'fake-secret-2', bound: false }
  const fake = await start(t, undefined, [APP, other])
  t.not(fake.openid(APP.appid, 'bob'), fake.openid(other.appid, 'bob'))
  const { body } = await exchange(fake, fake.login(other.appid, 'bob').code, other)
  t.equal(body.unionid, undefined)
})

t.test('WeChat error codes', async (t) => {
  let clock = 1_000_000
  const fake = await start(t, () => clock)
  t.match(await exchange(fake, 'never-issued'), { body: { errcode: 40029, errmsg: /invalid code/ } })
  t.match(await exchange(fake, fake.login(APP.appid, 'a').code, { appid: 'wxunknown' }), { body: { errcode: 40013 } })
  t.match(await exchange(fake, fake.login(APP.appid, 'a').code, { secret: 'wrong' }), { body: { errcode: 40125 } })
  const stale = fake.login(APP.appid, 'a').code
  clock += 5 * 60 * 1000 + 1
  t.match(await exchange(fake, stale), { body: { errcode: 40029 } }, 'codes expire after 5 minutes')
  fake.block('mallory')
  t.match(await exchange(fake, fake.login(APP.appid, 'mallory').code), { body: { errcode: 40226 } })
})

t.test('more than 100 exchanges a minute for one user gets 45011', async (t) => {
  const fake = await start(t)
  for (let i = 0; i < 100; i++) t.notOk((await exchange(fake, fake.login(APP.appid, 'busy').code)).body.errcode)
  t.match(await exchange(fake, fake.login(APP.appid, 'busy').code), { body: { errcode: 45011 } })
  t.notOk((await exchange(fake, fake.login(APP.appid, 'calm').code)).body.errcode, 'other users are unaffected')
})

t.test('faults: errcode, gateway status, malformed body, reset, delay, limited times', async (t) => {
  const fake = await start(t)
  fake.setFault({ errcode: -1, times: 1 })
  t.match(await exchange(fake, 'x'), { body: { errcode: -1, errmsg: /system error/ } })
  t.match(await exchange(fake, 'x'), { body: { errcode: 40029 } }, 'the fault was used up')

  fake.setFault({ status: 502 })
  const gateway = await request(`${fake.url}/sns/jscode2session`)
  t.equal(gateway.statusCode, 502)
  t.match(await gateway.body.text(), /<html>/)

  fake.setFault({ malformed: true })
  const malformed = await request(`${fake.url}/sns/jscode2session`)
  await t.rejects(malformed.body.json())

  fake.setFault({ reset: true })
  await t.rejects(request(`${fake.url}/sns/jscode2session`), { code: 'UND_ERR_SOCKET' })

  fake.setFault({ delayMs: 300, times: 1 })
  const started = Date.now()
  await exchange(fake, 'x')
  t.ok(Date.now() - started >= 290, 'answered after the delay')
  t.equal(fake.callCount('/sns/jscode2session'), 6)
})

t.test('hold: answers wait for the test to release them, and it learns when they arrived', async (t) => {
  const fake = await start(t)
  const held = fake.hold(2)
  let answered = 0
  const calls = [exchange(fake, 'x'), exchange(fake, 'y')].map((p) => p.then((r) => { answered++; return r }))
  await held.arrived
  t.equal(fake.callCount('/sns/jscode2session'), 2, 'both arrived')
  // One more round trip to the fake (not held: the hold took two) proves the held two are still waiting.
  t.match(await exchange(fake, 'z'), { body: { errcode: 40029 } }, 'a request past the hold is answered')
  t.equal(answered, 0, 'the held ones are not')
  held.release()
  for (const res of await Promise.all(calls)) t.match(res, { body: { errcode: 40029 } }, 'answered as usual once released')
})

t.test('the HTTP control endpoints play wx.login and set faults for another process', async (t) => {
  const fake = await start(t)
  const login = await request(`${fake.url}/__fake/login`, { method: 'POST', body: JSON.stringify({ user: 'carol' }) })
  const { code } = await login.body.json() as { code: string }
  t.equal((await exchange(fake, code)).body.openid, fake.openid(APP.appid, 'carol'))
  await request(`${fake.url}/__fake/fault`, { method: 'POST', body: JSON.stringify({ errcode: 45011 }) })
  t.match(await exchange(fake, 'x'), { body: { errcode: 45011 } })
  await request(`${fake.url}/__fake/fault`, { method: 'POST', body: '{}' })
  t.match(await exchange(fake, 'x'), { body: { errcode: 40029 } })
})

t.test('stable_token, checksession and resetusersessionkey speak the protocol', async (t) => {
  const fake = await start(t)
  const post = async (path: string, body: object) => (await request(`${fake.url}${path}`, { method: 'POST', body: JSON.stringify(body) })).body.json() as Promise<Record<string, unknown>>
  const get = async (path: string, query: Record<string, string>) => (await request(`${fake.url}${path}?${new URLSearchParams(query)}`)).body.json() as Promise<Record<string, unknown>>
  const first = await post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: APP.appid, secret: APP.secret, force_refresh: false })
  t.match(first, { access_token: /^AT_/, expires_in: 7200 })
  t.same(await post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: APP.appid, secret: APP.secret }), first, 'normal mode: the same token')
  t.match(await post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: APP.appid, secret: 'nope' }), { errcode: 40125 })
  const token = first.access_token as string

  const { openid } = fake.login(APP.appid, 'dave')
  const key = fake.sessionKey(APP.appid, 'dave')!
  const signature = checkSessionSignature(key)
  t.match(await get('/wxa/checksession', { access_token: token, openid, signature, sig_method: 'hmac_sha256' }), { errcode: 0 })
  t.match(await get('/wxa/checksession', { access_token: 'stale', openid, signature, sig_method: 'hmac_sha256' }), { errcode: 40001 })
  const reset = await get('/wxa/resetusersessionkey', { access_token: token, openid, signature, sig_method: 'hmac_sha256' })
  t.match(reset, { errcode: 0, openid, session_key: /.+/ })
  t.not(reset.session_key, key)
  t.match(await get('/wxa/checksession', { access_token: token, openid, signature, sig_method: 'hmac_sha256' }), { errcode: 87009 }, 'the old key is no longer valid')

  const forced = await post('/cgi-bin/stable_token', { grant_type: 'client_credential', appid: APP.appid, secret: APP.secret, force_refresh: true })
  t.not(forced.access_token, token)
  t.match(await get('/wxa/checksession', { access_token: token, openid, signature, sig_method: 'hmac_sha256' }), { errcode: 40001 }, 'force_refresh invalidates the previous token')
  t.equal(fake.callCount('/cgi-bin/stable_token'), 4)
})

t.test('the client side over HTTP: checksession, sealed user info, phone codes; expireSession ends the login state', async (t) => {
  const fake = await start(t)
  const control = async (path: string, body: object) => {
    const res = await request(`${fake.url}/__fake/${path}`, { method: 'POST', body: JSON.stringify(body) })
    return { status: res.statusCode, body: await res.body.json() as Record<string, any> }
  }
  t.match(await control('user-info', { user: 'erin' }), { status: 400 }, 'no user info before wx.login')
  t.same((await control('checksession', { user: 'erin' })).body, { valid: false })
  await control('login', { user: 'erin' })
  t.same((await control('checksession', { user: 'erin' })).body, { valid: true })

  const { body: sealed } = await control('user-info', { user: 'erin', profile: { nickName: 'Erin' } })
  const key = Buffer.from(fake.sessionKey(APP.appid, 'erin')!, 'base64')
  const decipher = createDecipheriv('aes-128-cbc', key, Buffer.from(sealed.iv, 'base64'))
  const opened = JSON.parse(Buffer.concat([decipher.update(sealed.encryptedData, 'base64'), decipher.final()]).toString())
  t.match(opened, { nickName: 'Erin', openId: fake.openid(APP.appid, 'erin'), watermark: { appid: APP.appid } })
  t.equal(sealed.rawData, '{"nickName":"Erin"}')
  t.match((await control('phone-code', {})).body, { code: /^[0-9a-f]{32}$/ })

  const before = fake.sessionKey(APP.appid, 'erin')
  fake.expireSession(APP.appid, 'erin')
  t.same((await control('checksession', { user: 'erin' })).body, { valid: false }, 'wx.checkSession fails')
  t.not(fake.sessionKey(APP.appid, 'erin'), before, 'the key the server holds no longer passes wxa/checksession')
  await control('login', { user: 'erin' })
  t.same((await control('checksession', { user: 'erin' })).body, { valid: true }, 'until the next wx.login')
})
