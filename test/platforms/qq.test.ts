import t from 'tap'
import { FakeQq } from '../../src/dev/fake-qq.js'
import { QqAdapter } from '../../src/platforms/qq.js'
import { sessionKeyPlatformCases, setup, type PlatformCase } from '../helpers/platform-cases.js'

const QQ: PlatformCase<'qq', FakeQq, QqAdapter> = {
  platform: 'qq',
  fake: (apps) => new FakeQq(apps),
  adapter: (options) => new QqAdapter(options),
  refusals: [[-1, 'upstream_busy'], [40029, 'code_invalid'], [40163, 'code_invalid'], [45011, 'rate_limited'], [40013, 'bad_credentials'], [40125, 'bad_credentials'], [40226, 'user_blocked']],
  busy: -1,
  success: ({ subject, sessionKey, unionid }) => ({ errcode: 0, errmsg: 'ok', openid: subject, session_key: sessionKey, unionid }),
  boundByDefault: true
}

sessionKeyPlatformCases(t, QQ)

t.test('QQ speaks GET /sns/jscode2session with everything in the query', async (t) => {
  const { fake, adapter, app } = await setup(t, QQ)
  await adapter.exchange(app, fake.login(app.appid, 'ann').code)
  t.equal(fake.callCount('/sns/jscode2session'), 1)
})

t.test('an errcode that is not a number is the platform\'s fault, not a refusal', async (t) => {
  const { fake, adapter, app } = await setup(t, QQ)
  fake.setFault({ body: { errcode: '40029', errmsg: 'invalid code' } })
  await t.rejects(adapter.exchange(app, 'x'), { name: 'TransportUnavailable' })
})

t.test('QQ has no phone capability and requires the watermark', async (t) => {
  const { fake, adapter, app } = await setup(t, QQ)
  t.equal(adapter.phone, undefined)
  fake.login(app.appid, 'bea')
  const key = fake.sessionKey(app.appid, 'bea')!
  const { sealForUser } = await import('../../src/dev/fake-wechat-data.js')
  t.throws(() => adapter.decrypt(app, key, sealForUser(key, { nickName: 'no watermark' })), { name: 'DecryptFailure', kind: 'undecryptable' })
})
