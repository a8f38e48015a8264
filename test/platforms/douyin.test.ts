import t from 'tap'
import { FakeDouyin } from '../../src/dev/fake-douyin.js'
import { DouyinAdapter } from '../../src/platforms/douyin.js'
import { phoneCases, sessionKeyPlatformCases, setup, type PlatformCase } from '../helpers/platform-cases.js'

const DOUYIN: PlatformCase<'douyin', FakeDouyin, DouyinAdapter> = {
  platform: 'douyin',
  fake: (apps) => new FakeDouyin(apps),
  adapter: (options) => new DouyinAdapter(options),
  refusals: [[-1, 'upstream_busy'], [40015, 'bad_credentials'], [40017, 'bad_credentials'], [40020, 'bad_credentials'], [40018, 'code_invalid'], [40019, 'code_invalid']],
  busy: -1,
  success: ({ subject, sessionKey, unionid }) => ({ err_no: 0, err_tips: 'success', data: { openid: subject, session_key: sessionKey, unionid, anonymous_openid: '' } }),
  boundByDefault: true
}

sessionKeyPlatformCases(t, DOUYIN)
phoneCases(t, DOUYIN)

t.test('attack: an answer carrying only an anonymous_openid never becomes an identity', async (t) => {
  const { fake, adapter, app } = await setup(t, DOUYIN)
  const device = fake.anonymousOpenid(app.appid, 'guest')
  for (const data of [
    { openid: '', session_key: '', unionid: '', anonymous_openid: device },
    { anonymous_openid: device },
    { anonymous_openid: device, session_key: Buffer.alloc(16).toString('base64') }
  ]) {
    fake.setFault({ body: { err_no: 0, err_tips: 'success', data } })
    await t.rejects(adapter.exchange(app, 'x'), { name: 'PlatformRefusal', kind: 'code_anonymous', upstream: 'anonymous_openid' }, JSON.stringify(data))
  }
})

t.test('an anonymousCode is refused by default, without a call to Douyin', async (t) => {
  const { fake, adapter, app } = await setup(t, DOUYIN)
  const { code, anonymousCode } = fake.ttLogin(app.appid, 'guest', { loggedIn: false })
  t.equal(code, undefined, 'a guest gets no code')
  await t.rejects(adapter.exchange(app, anonymousCode, { anonymous: true }), { name: 'PlatformRefusal', kind: 'code_anonymous' })
  t.equal(fake.calls.size, 0)
  await t.rejects(adapter.exchange(app, anonymousCode), { name: 'PlatformRefusal', kind: 'code_invalid' }, 'nor does it pass as a login code')
})

t.test('the fake speaks anonymous_code as Douyin does: a device id, and nothing of the user', async (t) => {
  const { fake, app } = await setup(t, DOUYIN)
  const { code, anonymousCode } = fake.ttLogin(app.appid, 'kim')
  const post = async (body: object) => (await fetch(`${fake.url}/api/apps/v2/jscode2session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()
  t.match(await post({ appid: app.appid, secret: app.secret, anonymous_code: anonymousCode }), { err_no: 0, data: { openid: '', session_key: '', anonymous_openid: fake.anonymousOpenid(app.appid, 'kim') } })
  t.match(await post({ appid: app.appid, secret: app.secret, anonymous_code: anonymousCode }), { err_no: 40019 }, 'single use')
  t.match(await post({ appid: app.appid, secret: app.secret }), { err_no: 40014 })
  t.match(await post({ appid: app.appid, secret: app.secret, code }), { err_no: 0, data: { openid: fake.openid(app.appid, 'kim'), anonymous_openid: '' } })
})

t.test('phone: the old getPhoneNumber data opens with the session_key, bound to the appid', async (t) => {
  const { fake, adapter, app } = await setup(t, DOUYIN)
  await adapter.exchange(app, fake.login(app.appid, 'lee').code)
  const key = fake.sessionKey(app.appid, 'lee')!
  const phone = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }
  t.same(adapter.phone(app, key, fake.phoneData(app.appid, 'lee', phone)), phone)
  t.throws(() => adapter.phone(app, key, fake.phoneData(app.appid, 'lee', phone, { watermarkAppid: 'tt-other' })), { name: 'DecryptFailure', kind: 'wrong_app' })
  t.throws(() => adapter.phone(app, key, fake.userInfo(app.appid, 'lee', { nickName: 'not a phone' })), { name: 'DecryptFailure', kind: 'undecryptable' })
  t.throws(() => adapter.phone(app, key, fake.phoneData(app.appid, 'lee', { ...phone, phoneNumber: '<script>' })), { name: 'DecryptFailure', kind: 'undecryptable' })
})
