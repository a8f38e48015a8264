import { randomBytes } from 'node:crypto'
import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// WeChat's answers outside login (stable_token, getuserphonenumber,
// checksession) that are not what its documentation promises: a field missing,
// a JSON null or array, an errcode no table maps, a token refused twice. Each
// must be a coded 4xx/5xx, never 500 INTERNAL_ERROR, and store nothing.

const STABLE_TOKEN = '/cgi-bin/stable_token'
const PHONE_PATH = '/wxa/business/getuserphonenumber'
const CHECKSESSION = '/wxa/checksession'
const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

type Built = Awaited<ReturnType<typeof build>>
const phone = (b: Built, token: string) =>
  b.app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(token), payload: { code: b.fake.phoneCode(APP.appid, PHONE) } })
/** Data no stored key opens: the service asks checksession whether our key is current. */
const undecryptable = (b: Built, token: string) =>
  b.app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(token), payload: sealWithKey(randomBytes(16).toString('base64'), { nickName: 'x', watermark: { appid: APP.appid, timestamp: 1 } }) })
const storedPhone = async (b: Built, token: string) =>
  (await b.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(token) })).json().phoneNumber

const label = (body: unknown) => JSON.stringify(body)

t.test('stable_token without a usable access_token or expires_in: 502 WECHAT_UNAVAILABLE, nothing cached, no API called with it', async (t) => {
  const b = await build(t)
  const alice = await login(b.app, b.fake, 'alice')
  const bodies: unknown[] = [
    { expires_in: 7200 },
    { access_token: 'AT_x' },
    { access_token: 7, expires_in: 7200 },
    { access_token: 'AT_x', expires_in: '7200' },
    { access_token: null, expires_in: 7200 },
    null,
    [],
    [{ access_token: 'AT_x', expires_in: 7200 }],
    'AT_x'
  ]
  for (const body of bodies) {
    const fetches = b.fake.callCount(STABLE_TOKEN)
    b.fake.setFault({ body, path: STABLE_TOKEN, times: 1 })
    t.match((await phone(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, `phone, stable_token ${label(body)}`)
    t.equal(b.fake.callCount(STABLE_TOKEN), fetches + 1, `${label(body)}: one fetch`)
    b.fake.setFault({ body, path: STABLE_TOKEN, times: 1 })
    t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, `decrypt's checksession, stable_token ${label(body)}`)
    t.equal(b.fake.callCount(STABLE_TOKEN), fetches + 2, `${label(body)}: nothing was cached, the next call fetched again`)
  }
  t.equal(b.fake.callCount(PHONE_PATH), 0, 'no WeChat API was called with a token from a malformed answer')
  t.equal(b.fake.callCount(CHECKSESSION), 0)
  t.equal(await storedPhone(b, alice.accessToken), null)

  t.equal((await phone(b, alice.accessToken)).statusCode, 200, 'a well-formed answer afterwards works')
})

t.test('getuserphonenumber without phone_info, with a partial one, or a null/array body: 502 WECHAT_UNAVAILABLE, no phone stored', async (t) => {
  const b = await build(t)
  const alice = await login(b.app, b.fake, 'alice')
  t.equal((await phone(b, alice.accessToken)).statusCode, 200, 'the access_token is warm: the faults below hit the phone call itself')
  await b.prisma.$executeRaw`UPDATE users SET phone_number = NULL, pure_phone_number = NULL, country_code = NULL`
  const bodies: unknown[] = [
    { errcode: 0, errmsg: 'ok' },
    { errcode: 0, errmsg: 'ok', phone_info: null },
    { errcode: 0, errmsg: 'ok', phone_info: 'x' },
    { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: PHONE.phoneNumber } },
    { errcode: 0, errmsg: 'ok', phone_info: { ...PHONE, countryCode: 86, watermark: { appid: APP.appid, timestamp: 1 } } },
    { errcode: 0, errmsg: 'ok', phone_info: { ...PHONE } },
    { errcode: 0, errmsg: 'ok', phone_info: { ...PHONE, watermark: { appid: APP.appid } } },
    { errcode: 0, errmsg: 'ok', phone_info: { ...PHONE, watermark: { timestamp: 1 } } },
    { errcode: 0, errmsg: 'ok', phone_info: { ...PHONE, watermark: null } },
    null,
    [],
    [{ phone_info: { ...PHONE, watermark: { appid: APP.appid, timestamp: 1 } } }]
  ]
  for (const body of bodies) {
    b.fake.setFault({ body, path: PHONE_PATH, times: 1 })
    t.match((await phone(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, label(body))
  }
  t.equal(b.fake.callCount(STABLE_TOKEN), 1, 'a malformed answer is not taken for a token problem')
  t.equal(await storedPhone(b, alice.accessToken), null, 'no phone number was stored from any of them')
})

t.test('checksession answering a JSON null, array or string: 502 WECHAT_UNAVAILABLE, no verdict remembered', async (t) => {
  const b = await build(t)
  const alice = await login(b.app, b.fake, 'alice')
  for (const body of [null, [], [{ errcode: 0, errmsg: 'ok' }], 'ok', 87009]) {
    b.fake.setFault({ body, path: CHECKSESSION, times: 1 })
    t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, label(body))
  }
  t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' }, 'WeChat asked again, and its real verdict taken')
  t.equal(b.fake.callCount(CHECKSESSION), 6)
})

t.test('errcodes no table maps are 502 WECHAT_ERROR on phone and checksession; the mapped ones keep their documented codes', async (t) => {
  const b = await build(t)
  const alice = await login(b.app, b.fake, 'alice')
  t.equal((await phone(b, alice.accessToken)).statusCode, 200)
  for (const errcode of [47001, 40003, 61024, 9_999_999]) {
    b.fake.setFault({ errcode, path: PHONE_PATH, times: 1 })
    t.match((await phone(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_ERROR' }, `phone, errcode ${errcode}`)
    b.fake.setFault({ errcode, path: CHECKSESSION, times: 1 })
    t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_ERROR' }, `checksession, errcode ${errcode}`)
  }

  b.fake.setFault({ errcode: 45011, path: PHONE_PATH, times: 1 })
  const limited = await phone(b, alice.accessToken)
  t.match(limited.json(), { statusCode: 429, code: 'WECHAT_RATE_LIMITED' })
  t.equal(limited.headers['retry-after'], '60')
  b.fake.setFault({ errcode: -1, path: CHECKSESSION, times: 3 })
  t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 503, code: 'WECHAT_BUSY' }, 'checksession busy 3 times')
  b.fake.setFault({ errcode: 40013, path: PHONE_PATH, times: 1 })
  t.match((await phone(b, alice.accessToken)).json(), { statusCode: 500, code: 'WECHAT_CONFIG_INVALID' }, 'an operator problem, as documented')
  b.fake.setFault({ errcode: 40163, path: PHONE_PATH, times: 1 })
  t.match((await phone(b, alice.accessToken)).json(), { statusCode: 400, code: 'PHONE_CODE_INVALID' })
  t.equal(b.fake.callCount(STABLE_TOKEN), 1, 'none of these dropped the access_token')
})

t.test('40001 again after the token was fetched anew: one retry only, then 502 WECHAT_ERROR on phone and checksession', async (t) => {
  const b = await build(t)
  const alice = await login(b.app, b.fake, 'alice')
  t.equal((await phone(b, alice.accessToken)).statusCode, 200)
  t.equal(b.fake.callCount(STABLE_TOKEN), 1)

  for (const errcode of [40001, 42001]) {
    const phoneCalls = b.fake.callCount(PHONE_PATH)
    const fetches = b.fake.callCount(STABLE_TOKEN)
    b.fake.setFault({ errcode, path: PHONE_PATH, times: 2 })
    t.match((await phone(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_ERROR' }, `phone, ${errcode} twice`)
    t.equal(b.fake.callCount(PHONE_PATH), phoneCalls + 2, 'the call and its one retry')
    t.equal(b.fake.callCount(STABLE_TOKEN), fetches + 1, 'one fresh token between them')

    const checks = b.fake.callCount(CHECKSESSION)
    b.fake.setFault({ errcode, path: CHECKSESSION, times: 2 })
    t.match((await undecryptable(b, alice.accessToken)).json(), { statusCode: 502, code: 'WECHAT_ERROR' }, `checksession, ${errcode} twice`)
    t.equal(b.fake.callCount(CHECKSESSION), checks + 2, 'the call and its one retry')
    t.equal(b.fake.callCount(STABLE_TOKEN), fetches + 2)
  }
  t.equal((await phone(b, alice.accessToken)).statusCode, 200, 'then it works again')
})

t.test('attack: WeChat answering a partial phone_info gets a 502, not a 500', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const code = fake.phoneCode(APP.appid, PHONE)
  await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
  for (const body of [
    { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '13800138000', watermark: { appid: APP.appid, timestamp: 1 } } },
    { errcode: 0, errmsg: 'ok', phone_info: { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' } },
    { errcode: 0, errmsg: 'ok', phone_info: null }
  ]) {
    fake.setFault({ body, times: 1 })
    const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code } })
    t.match(res.json(), { statusCode: 502, code: 'WECHAT_UNAVAILABLE' }, JSON.stringify(body))
  }
})
