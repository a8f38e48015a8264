import { createCipheriv, randomBytes } from 'node:crypto'
import t from 'tap'
import { FakeWechat } from '../../src/dev/fake-wechat.js'
import { APP, build } from '../helper.js'
import { login, me, post, rowCounts } from '../helpers/auth.js'
import { sealed } from '../helpers/sealed.js'

const PROFILE = { nickName: '小明🐼👨‍👩‍👧', avatarUrl: 'https://thirdwx.qlogo.cn/a.png', gender: 1, language: 'zh_CN', city: 'Shenzhen', province: 'Guangdong', country: 'China' }
const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

/** Seals arbitrary bytes with a session_key, for payloads WeChat would never send. */
function sealRaw (sessionKey: string, plaintext: Buffer): { encryptedData: string, iv: string } {
  const iv = randomBytes(16)
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
  return { encryptedData: Buffer.concat([cipher.update(plaintext), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
}

t.test('decrypts user info sealed by WeChat end to end and stores the profile, emoji intact', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const res = await post(app, '/v1/auth/decrypt', a.accessToken, sealed(fake.userInfo(APP.appid, 'alice', PROFILE)))
  t.equal(res.statusCode, 200)
  t.match(res.json().data, { ...PROFILE, openId: fake.openid(APP.appid, 'alice'), unionId: fake.unionid('alice'), watermark: { appid: APP.appid } })
  t.match(await me(app, a.accessToken), { nickname: PROFILE.nickName, avatarUrl: PROFILE.avatarUrl, gender: 1, city: 'Shenzhen', hasUnionid: true })
})

t.test('the same profile decrypted again is read, not rewritten; a changed one is written', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  const info = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))
  const updatedAt = async () => (await prisma.$queryRaw<{ updated_at: Date }[]>`SELECT updated_at FROM users`)[0]!.updated_at.getTime()
  await post(app, '/v1/auth/decrypt', a.accessToken, info)
  const first = await updatedAt()
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal((await post(app, '/v1/auth/decrypt', a.accessToken, info)).statusCode, 200)
  t.equal(await updatedAt(), first, 'unchanged row left alone')
  await post(app, '/v1/auth/decrypt', a.accessToken, sealed(fake.userInfo(APP.appid, 'alice', { ...PROFILE, city: 'Hangzhou' })))
  t.ok(await updatedAt() > first, 'a change is written')
  t.equal((await me(app, a.accessToken)).city, 'Hangzhou')
})

t.test('phone data from the old getPhoneNumber button is decrypted for the client, never stored as the user\'s phone', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const res = await post(app, '/v1/auth/decrypt', a.accessToken, fake.phoneData(APP.appid, 'alice', PHONE))
  t.equal(res.statusCode, 200)
  t.match(res.json().data, PHONE)
  t.equal((await me(app, a.accessToken)).phoneNumber, null, 'only the phone route (server to WeChat) stores a number')
})

t.test('data produced for another mini-program is refused and changes nothing', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const res = await post(app, '/v1/auth/decrypt', a.accessToken, sealed(fake.userInfo(APP.appid, 'alice', PROFILE, { watermarkAppid: 'wxsomeoneelse00' })))
  t.match(res.json(), { statusCode: 400, code: 'WATERMARK_APPID_MISMATCH' })
  t.equal((await me(app, a.accessToken)).nickname, null)
})

t.test('DECRYPT_MAX_AGE_SECONDS refuses old data', async (t) => {
  let clock = Date.now() - 120_000
  const fake = new FakeWechat([APP], () => clock)
  await fake.listen()
  t.teardown(() => fake.close())
  const { app } = await build(t, { fake, env: { DECRYPT_MAX_AGE_SECONDS: '60' } })
  const a = await login(app, fake, 'alice')
  const old = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))
  t.match((await post(app, '/v1/auth/decrypt', a.accessToken, old)).json(), { statusCode: 400, code: 'WATERMARK_EXPIRED' })
  clock = Date.now()
  t.equal((await post(app, '/v1/auth/decrypt', a.accessToken, sealed(fake.userInfo(APP.appid, 'alice', PROFILE)))).statusCode, 200)
})

t.test('malformed input is a 400 naming the problem, before any key is tried or WeChat asked', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  const good = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))
  const cases: [string, object, string][] = [
    ['iv not base64', { ...good, iv: '!!!notbase64!!!!' }, 'ENCRYPTED_DATA_MALFORMED'],
    ['iv of 15 bytes', { ...good, iv: randomBytes(15).toString('base64') }, 'ENCRYPTED_DATA_MALFORMED'],
    ['iv of 17 bytes', { ...good, iv: randomBytes(17).toString('base64') }, 'ENCRYPTED_DATA_MALFORMED'],
    ['data not base64', { ...good, encryptedData: 'abc$def' }, 'ENCRYPTED_DATA_MALFORMED'],
    ['data with bad padding chars', { ...good, encryptedData: 'QUJD=' }, 'ENCRYPTED_DATA_MALFORMED'],
    ['data not a multiple of 16', { ...good, encryptedData: randomBytes(33).toString('base64') }, 'ENCRYPTED_DATA_MALFORMED'],
    ['data too large', { ...good, encryptedData: randomBytes(17 * 1024).toString('base64') }, 'FST_ERR_VALIDATION'],
    ['empty data', { ...good, encryptedData: '' }, 'FST_ERR_VALIDATION'],
    ['missing iv', { encryptedData: good.encryptedData }, 'FST_ERR_VALIDATION'],
    ['number', { ...good, iv: 16 }, 'FST_ERR_VALIDATION'],
    ['extra property', { ...good, extra: true }, 'FST_ERR_VALIDATION']
  ]
  for (const [name, payload, code] of cases) {
    const res = await post(app, '/v1/auth/decrypt', a.accessToken, payload)
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, code, name)
  }
  t.equal(fake.callCount('/wxa/checksession'), 0)
  t.match(await rowCounts(prisma), { users: 1 })
})

t.test('padding, JSON and watermark failures look the same to the client (no padding oracle)', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const key = fake.sessionKey(APP.appid, 'alice')!
  const payloads = {
    'random bytes (bad padding)': { encryptedData: randomBytes(64).toString('base64'), iv: randomBytes(16).toString('base64') },
    'valid padding, not JSON': sealRaw(key, Buffer.from('not json at all')),
    'JSON without watermark': sealRaw(key, Buffer.from('{"nickName":"x"}')),
    'JSON array': sealRaw(key, Buffer.from('[1,2,3]'))
  }
  const answers = new Set<string>()
  for (const [name, payload] of Object.entries(payloads)) {
    const res = await post(app, '/v1/auth/decrypt', a.accessToken, payload)
    t.equal(res.statusCode, 400, name)
    answers.add(res.body)
  }
  t.equal(answers.size, 1, 'one identical body for every kind of failure')
  t.match(JSON.parse([...answers][0]!), { code: 'ENCRYPTED_DATA_INVALID' })
  t.equal(fake.callCount('/wxa/checksession'), 1, 'WeChat confirmed the key once: its verdict is remembered')
})

t.test('session_key rotation: the previous key still decrypts; a key WeChat has moved past is reported stale', async (t) => {
  const { app, fake } = await build(t)
  await login(app, fake, 'alice')
  const before = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))

  const b = await login(app, fake, 'alice')
  const res = await post(app, '/v1/auth/decrypt', b.accessToken, before)
  t.equal(res.statusCode, 200, 'data fetched before a later wx.login decrypts with the previous key')
  t.equal(fake.callCount('/wxa/checksession'), 0)

  // Two more wx.login() calls at WeChat that never reached this service: WeChat's key moved on twice.
  fake.login(APP.appid, 'alice')
  fake.login(APP.appid, 'alice')
  const after = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))
  const stale = await post(app, '/v1/auth/decrypt', b.accessToken, after)
  t.equal(stale.statusCode, 401)
  t.match(stale.json(), { code: 'SESSION_KEY_STALE', message: /wx\.login\(\), log in again, then fetch the data again/ })

  const c = await login(app, fake, 'alice')
  t.equal((await post(app, '/v1/auth/decrypt', c.accessToken, sealed(fake.userInfo(APP.appid, 'alice', PROFILE)))).statusCode, 200, 'after logging in again it works')
})

t.test('data older than both stored keys, while our key is current, is invalid with advice to fetch again', async (t) => {
  const { app, fake } = await build(t)
  await login(app, fake, 'alice')
  const ancient = sealed(fake.userInfo(APP.appid, 'alice', PROFILE))
  await login(app, fake, 'alice')
  const c = await login(app, fake, 'alice')
  const res = await post(app, '/v1/auth/decrypt', c.accessToken, ancient)
  t.match(res.json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID', message: /fetch it again/ })
})

t.test('verify: rawData signature checked against the session_key, profile stored', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const { rawData, signature } = fake.userInfo(APP.appid, 'alice', PROFILE)
  const ok = await post(app, '/v1/auth/verify', a.accessToken, { rawData, signature })
  t.equal(ok.statusCode, 200)
  t.same(ok.json().data, PROFILE)
  t.equal((await me(app, a.accessToken)).nickname, PROFILE.nickName)

  const flipped = signature.slice(0, -1) + (signature.endsWith('0') ? '1' : '0')
  t.match((await post(app, '/v1/auth/verify', a.accessToken, { rawData, signature: flipped })).json(), { statusCode: 400, code: 'SIGNATURE_INVALID' })
  t.match((await post(app, '/v1/auth/verify', a.accessToken, { rawData: rawData.replace('小明', '小红'), signature })).json(), { code: 'SIGNATURE_INVALID' })
  t.match((await post(app, '/v1/auth/verify', a.accessToken, { rawData, signature: 'zz' })).json(), { code: 'SIGNATURE_INVALID' })

  const b = await login(app, fake, 'alice')
  t.equal((await post(app, '/v1/auth/verify', b.accessToken, { rawData, signature })).statusCode, 200, 'signed before a later login: the previous key matches')
})

t.test('phone number from a getPhoneNumber code; a wx.login code is refused plainly', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const code = fake.phoneCode(APP.appid, PHONE)
  const res = await post(app, '/v1/auth/phone', a.accessToken, { code })
  t.equal(res.statusCode, 200)
  t.same(res.json(), PHONE)
  t.equal((await me(app, a.accessToken)).phoneNumber, PHONE.phoneNumber)
  t.match((await post(app, '/v1/auth/phone', a.accessToken, { code })).json(), { statusCode: 400, code: 'PHONE_CODE_INVALID' }, 'single use')
  const loginCode = fake.login(APP.appid, 'alice').code
  t.match((await post(app, '/v1/auth/phone', a.accessToken, { code: loginCode })).json(), { statusCode: 400, code: 'PHONE_CODE_INVALID', message: /a wx\.login code does not work here/ })
})
