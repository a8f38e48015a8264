import t from 'tap'
import { FakeKuaishou } from '../../src/dev/fake-kuaishou.js'
import { KuaishouAdapter } from '../../src/platforms/kuaishou.js'
import { phoneCases, sessionKeyPlatformCases, setup, type PlatformCase } from '../helpers/platform-cases.js'

const KUAISHOU: PlatformCase<'kuaishou', FakeKuaishou, KuaishouAdapter> = {
  platform: 'kuaishou',
  fake: (apps) => new FakeKuaishou(apps),
  adapter: (options) => new KuaishouAdapter(options),
  refusals: [[100200100, 'code_invalid'], [100200101, 'bad_credentials']],
  success: ({ subject, sessionKey, unionid }) => ({ result: 1, open_id: subject, session_key: sessionKey, union_id: unionid }),
  boundByDefault: false
}

sessionKeyPlatformCases(t, KUAISHOU)
phoneCases(t, KUAISHOU)

t.test('open_id is per developer: two apps of one developer see one subject, of kind open_id', async (t) => {
  const fake = new FakeKuaishou([{ appid: 'ks-a', secret: 's', developer: 'dev1' }, { appid: 'ks-b', secret: 's', developer: 'dev1' }, { appid: 'ks-c', secret: 's' }])
  const apiBase = await fake.listen()
  const adapter = new KuaishouAdapter({ timeoutMs: 1000 })
  t.teardown(async () => { await adapter.close(); await fake.close() })
  const exchange = async (appid: string) => adapter.exchange({ platform: 'kuaishou', appid, secret: 's', apiBase }, fake.login(appid, 'may').code)
  const [a, b, c] = [await exchange('ks-a'), await exchange('ks-b'), await exchange('ks-c')]
  t.equal(a.subjectKind, 'open_id')
  t.equal(a.subject, b.subject)
  t.not(a.subject, c.subject)
})

t.test('a result that is not a number is the platform\'s fault, not a success', async (t) => {
  const { fake, adapter, app } = await setup(t, KUAISHOU)
  fake.setFault({ body: { open_id: 'abc', session_key: Buffer.alloc(16).toString('base64') } })
  await t.rejects(adapter.exchange(app, 'x'), { name: 'TransportUnavailable' })
})

t.test('data without a watermark opens (none is documented); phone gives phoneNumber and countryCode', async (t) => {
  const { fake, adapter, app } = await setup(t, KUAISHOU)
  await adapter.exchange(app, fake.login(app.appid, 'ned').code)
  const key = fake.sessionKey(app.appid, 'ned')!
  t.same(adapter.decrypt(app, key, fake.userInfo(app.appid, 'ned', { nickName: 'n' })), { openId: fake.openid(app.appid, 'ned'), nickName: 'n' })
  t.same(adapter.phone(app, key, fake.phoneData(app.appid, 'ned', { phoneNumber: '13800138000', countryCode: '86' })), { phoneNumber: '13800138000', countryCode: '86' })
})
