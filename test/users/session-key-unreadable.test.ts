import { randomBytes } from 'node:crypto'
import t from 'tap'
import { APP, build } from '../helper.js'
import { login, post } from '../helpers/auth.js'
import { sealWithKey, sealed } from '../helpers/sealed.js'

// A stored session_key that no configured SESSION_KEY_ENCRYPTION_KEYS key opens
// (the old key dropped before `keys:reencrypt` reported 0, a database restored
// next to other keys, a row's ciphertext copied from another row) is the
// service's own problem made the client's: log in again. It must be a coded
// 401 SESSION_KEY_UNREADABLE, never 500 INTERNAL_ERROR, and cost no WeChat
// call. And when the stored keys open but fail the data, WeChat being down
// while the failure is explained is a 502/504.

const PROFILE = { nickName: 'Alice', city: 'Shenzhen' }
const STABLE_TOKEN = '/cgi-bin/stable_token'
const CHECKSESSION = '/wxa/checksession'

const signed = ({ rawData, signature }: { rawData: string, signature: string }) => ({ rawData, signature })
const junk = () => sealWithKey(randomBytes(16).toString('base64'), { nickName: 'x', watermark: { appid: APP.appid, timestamp: 1 } })

t.test('a dropped encryption key: decrypt and verify answer 401 SESSION_KEY_UNREADABLE without asking WeChat; a new login reads again', async (t) => {
  const before = await build(t)
  const alice = await login(before.app, before.fake, 'alice')
  const info = before.fake.userInfo(APP.appid, 'alice', PROFILE)
  t.equal((await post(before.app, '/v1/auth/decrypt', alice.accessToken, sealed(info))).statusCode, 200, 'readable while the key is configured')

  // The restart with only a new key: the old one dropped too early.
  const { app, fake } = await build(t, { env: { SESSION_KEY_ENCRYPTION_KEYS: `k2:${randomBytes(32).toString('base64')}` }, testDb: before.testDb, fake: before.fake })
  const decrypt = await post(app, '/v1/auth/decrypt', alice.accessToken, sealed(info))
  t.match(decrypt.json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE', message: /wx\.login\(\), log in again/ })
  t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, junk())).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' }, 'whatever the data')
  t.match((await post(app, '/v1/auth/verify', alice.accessToken, signed(info))).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' })
  t.equal(fake.callCount(CHECKSESSION), 0, 'WeChat was not asked about a key we cannot read')
  t.equal(fake.callCount(STABLE_TOKEN), 0)

  // What the client does on that code: wx.login() and log in again.
  const again = await login(app, fake, 'alice')
  const fresh = fake.userInfo(APP.appid, 'alice', PROFILE)
  t.equal((await post(app, '/v1/auth/decrypt', again.accessToken, sealed(fresh))).statusCode, 200, 'decrypt works after the new login')
  t.equal((await post(app, '/v1/auth/verify', again.accessToken, signed(fresh))).statusCode, 200, 'verify too')
  // The previous key is still the unreadable ciphertext: it is skipped, not an error.
  t.match((await post(app, '/v1/auth/decrypt', again.accessToken, sealed(info))).json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' },
    'data only the unreadable previous key could open: explained by WeChat, not a 500')
  t.equal(fake.callCount(CHECKSESSION), 1)
})

t.test('a restored or copied ciphertext that does not belong to its row: the same coded 401, for decrypt and verify', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await login(app, fake, 'bob')
  const info = fake.userInfo(APP.appid, 'alice', PROFILE)
  const aliceOpenid = fake.openid(APP.appid, 'alice')
  const bobOpenid = fake.openid(APP.appid, 'bob')

  // Bob's ciphertext on Alice's row: a valid key id, but the row id is its associated data.
  await prisma.$executeRaw`UPDATE identities SET session_key_enc = (SELECT session_key_enc FROM identities WHERE subject = ${bobOpenid}) WHERE subject = ${aliceOpenid}`
  t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, sealed(info))).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' }, 'copied: decrypt')
  t.match((await post(app, '/v1/auth/verify', alice.accessToken, signed(info))).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' }, 'copied: verify')

  for (const garbage of ['not a ciphertext', 'v1.k1.AAAA', 'v2.k1.AAAA', 'v1.k1.AAAA.extra']) {
    await prisma.$executeRaw`UPDATE identities SET session_key_enc = ${garbage} WHERE subject = ${aliceOpenid}`
    t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, sealed(info))).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' }, `${garbage}: decrypt`)
    t.match((await post(app, '/v1/auth/verify', alice.accessToken, signed(info))).json(), { statusCode: 401, code: 'SESSION_KEY_UNREADABLE' }, `${garbage}: verify`)
  }
  t.equal(fake.callCount(CHECKSESSION), 0)
})

t.test('WeChat down while a decrypt failure is being explained: 502 WECHAT_UNAVAILABLE or 504 WECHAT_TIMEOUT, and no verdict remembered', async (t) => {
  const { app, fake, testDb } = await build(t)
  const alice = await login(app, fake, 'alice')

  fake.setFault({ status: 503, path: STABLE_TOKEN, times: 1 })
  t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, junk())).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, 'no access_token to ask with')

  for (const fault of [{ status: 502 }, { reset: true }, { malformed: true }]) {
    fake.setFault({ ...fault, path: CHECKSESSION, times: 1 })
    t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, junk())).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, `checksession ${JSON.stringify(fault)}`)
  }

  // No answer at all: the request is held at WeChat until the service's own time-out (WECHAT_TIMEOUT_MS) ends it.
  const held = fake.holdNext(CHECKSESSION)
  const timedOut = await post(app, '/v1/auth/decrypt', alice.accessToken, junk())
  held.release()
  t.match(timedOut.json(), { statusCode: 504, code: 'WECHAT_TIMEOUT' }, 'checksession never answers')

  const checks = fake.callCount(CHECKSESSION)
  t.match((await post(app, '/v1/auth/decrypt', alice.accessToken, junk())).json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' }, 'WeChat back: its verdict')
  t.equal(fake.callCount(CHECKSESSION), checks + 1, 'asked again: no failure was remembered as a verdict')

  // WeChat unreachable (connection refused): another instance on the same database, whose verdict memory is empty.
  const cut = await build(t, { env: { WECHAT_API_BASE: 'http://127.0.0.1:1' }, fake, testDb })
  t.match((await post(cut.app, '/v1/auth/decrypt', alice.accessToken, junk())).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, 'WeChat unreachable')
})
