import { generateKeyPair, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { App, Platform, WechatApp } from '../config/index.js'
import { FakeAlipay } from './fake-alipay.js'
import { FakeBaidu } from './fake-baidu.js'
import { FakeDouyin } from './fake-douyin.js'
import { FakeKuaishou } from './fake-kuaishou.js'
import { FakeQq } from './fake-qq.js'
import type { FakeServer } from './fake-server.js'
import { FakeWechat } from './fake-wechat.js'

// One app per platform, each on its platform's fake on a loopback port, for a
// first run with nothing configured (zero-config.ts) and the demo. Every
// secret and key is made for this run only: nothing here is ever a real
// credential, and no key is committed.

export const DEMO_APPIDS: Record<Platform, string> = {
  wechat: 'wxdemo0000000000',
  qq: '1110000000',
  douyin: 'ttdemo0000000000',
  baidu: '20000000',
  alipay: '2021000000000000',
  kuaishou: 'ks000000000000000'
}

/** Where a platform's fake listens, and the names of its app: at the service (`appid`) and at the fake (Baidu's appKey). */
export interface FakePlatformInfo {
  url: string
  appid: string
  fakeAppid: string
}

export interface FakePlatforms {
  /** Every app, as APPS would list them, apiBase at its fake; WeChat's also in `wechat`. */
  apps: App[]
  wechat: { apiBase: string, apps: WechatApp[] }
  info: Record<Platform, FakePlatformInfo>
  close: () => Promise<void>
}

const secret = (): string => randomBytes(16).toString('hex')

/** The fakes of every platform, listening on 127.0.0.1, with one app each. */
export async function startFakePlatforms (): Promise<FakePlatforms> {
  const wechatApp = { appid: DEMO_APPIDS.wechat, secret: secret() }
  const simple = { qq: secret(), douyin: secret(), kuaishou: secret() }
  const baidu = { appKey: `demo${randomBytes(12).toString('hex')}`, secret: secret() }
  // A quarter second each, so both at once off the main thread; the app's key stands in for the forger's (not Alipay's).
  const rsa = () => promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
  const [alipayKeys, alipayOwn] = await Promise.all([rsa(), rsa()])
  const aesKey = randomBytes(16)

  const fakes: Record<Platform, FakeServer> = {
    wechat: new FakeWechat([wechatApp]),
    qq: new FakeQq([{ appid: DEMO_APPIDS.qq, secret: simple.qq }]),
    douyin: new FakeDouyin([{ appid: DEMO_APPIDS.douyin, secret: simple.douyin }]),
    kuaishou: new FakeKuaishou([{ appid: DEMO_APPIDS.kuaishou, secret: simple.kuaishou }]),
    baidu: new FakeBaidu([baidu]),
    alipay: new FakeAlipay([{ appid: DEMO_APPIDS.alipay, appPublicKey: alipayKeys.publicKey, aesKey }], Date.now, {
      alipay: alipayOwn, forger: alipayKeys.privateKey
    })
  }
  await Promise.all(Object.values(fakes).map((fake) => fake.listen()))
  const at = (platform: Platform) => ({ appid: DEMO_APPIDS[platform], apiBase: fakes[platform].url })
  const apps: App[] = [
    { platform: 'wechat', ...wechatApp },
    { platform: 'qq', ...at('qq'), secret: simple.qq },
    { platform: 'douyin', ...at('douyin'), secret: simple.douyin },
    { platform: 'baidu', ...at('baidu'), ...baidu },
    { platform: 'alipay', ...at('alipay'), privateKey: alipayKeys.privateKey, alipayPublicKey: alipayOwn.publicKey, aesKey },
    { platform: 'kuaishou', ...at('kuaishou'), secret: simple.kuaishou }
  ]
  const info = Object.fromEntries(Object.entries(fakes).map(([platform, fake]) => [platform, {
    url: fake.url,
    appid: DEMO_APPIDS[platform as Platform],
    fakeAppid: platform === 'baidu' ? baidu.appKey : DEMO_APPIDS[platform as Platform]
  }])) as Record<Platform, FakePlatformInfo>
  return {
    apps,
    wechat: { apiBase: fakes.wechat.url, apps: [wechatApp] },
    info,
    close: async () => { await Promise.all(Object.values(fakes).map((fake) => fake.close())) }
  }
}
