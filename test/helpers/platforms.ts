import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { FakeAlipay } from '../../src/dev/fake-alipay.js'
import { FakeBaidu } from '../../src/dev/fake-baidu.js'
import { FakeDouyin } from '../../src/dev/fake-douyin.js'
import { FakeKuaishou } from '../../src/dev/fake-kuaishou.js'
import { FakeQq } from '../../src/dev/fake-qq.js'

// One app per platform other than WeChat, each served by its fake: build()
// (test/helper.ts) starts the fakes and configures these apps through APPS,
// next to the WeChat app APP, which stays the one a body without appid means.

/** The apps build() configures, by platform (Alipay's keys: alipayKeys()). */
export const PLATFORM_APPS = {
  qq: { platform: 'qq', appid: '1110000001', secret: 'qq-secret-0001' },
  douyin: { platform: 'douyin', appid: 'tt0000000000000001', secret: 'douyin-secret-0001' },
  kuaishou: { platform: 'kuaishou', appid: 'ks000000000000001', secret: 'kuaishou-secret-0001' },
  baidu: { platform: 'baidu', appid: '20000001', appKey: 'baiduAppKey0001', secret: 'baidu-sk-0001' },
  alipay: { platform: 'alipay', appid: '2021000000000001', aesKey: Buffer.from('alipay-aes-key16').toString('base64') }
} as const

export type TestPlatform = keyof typeof PLATFORM_APPS

export const TEST_PLATFORMS = Object.keys(PLATFORM_APPS) as TestPlatform[]

export interface PlatformFakes {
  qq: FakeQq
  douyin: FakeDouyin
  kuaishou: FakeKuaishou
  baidu: FakeBaidu
  alipay: FakeAlipay
}

export interface AlipayKeys {
  /** The app's pair: the service signs with the private half, the fake checks with the public one. */
  app: { publicKey: KeyObject, privateKey: KeyObject }
  /** Alipay's pair: the fake signs, the service verifies. */
  alipay: { publicKey: KeyObject, privateKey: KeyObject }
  forger: KeyObject
}

let keys: AlipayKeys | undefined
/** RSA keys made once per test process: generating them takes a quarter second each. */
export function alipayKeys (): AlipayKeys {
  const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 })
  keys ??= { app: rsa(), alipay: rsa(), forger: rsa().privateKey }
  return keys
}

/** Every platform's fake, listening, closed when the test ends. */
export async function startPlatformFakes (t: Test): Promise<PlatformFakes> {
  const { qq, douyin, kuaishou, baidu, alipay } = PLATFORM_APPS
  const { app, alipay: alipayPair, forger } = alipayKeys()
  const fakes: PlatformFakes = {
    qq: new FakeQq([{ appid: qq.appid, secret: qq.secret }]),
    douyin: new FakeDouyin([{ appid: douyin.appid, secret: douyin.secret }]),
    kuaishou: new FakeKuaishou([{ appid: kuaishou.appid, secret: kuaishou.secret }]),
    baidu: new FakeBaidu([{ appKey: baidu.appKey, secret: baidu.secret }]),
    alipay: new FakeAlipay([{ appid: alipay.appid, appPublicKey: app.publicKey, aesKey: Buffer.from(alipay.aesKey, 'base64') }], Date.now, { alipay: alipayPair, forger })
  }
  for (const fake of Object.values(fakes)) {
    await fake.listen()
    t.teardown(() => fake.close())
  }
  return fakes
}

const pem = (key: KeyObject, type: 'pkcs8' | 'spki'): string => key.export({ type, format: 'pem' }).toString()

/** APPS: one app per platform, its API at its fake. */
export function platformAppsEnv (fakes: PlatformFakes): string {
  const { qq, douyin, kuaishou, baidu, alipay } = PLATFORM_APPS
  const { app, alipay: alipayPair } = alipayKeys()
  return JSON.stringify([
    { ...qq, apiBase: fakes.qq.url },
    { ...douyin, apiBase: fakes.douyin.url },
    { ...kuaishou, apiBase: fakes.kuaishou.url },
    { ...baidu, apiBase: fakes.baidu.url },
    { ...alipay, privateKey: pem(app.privateKey, 'pkcs8'), alipayPublicKey: pem(alipayPair.publicKey, 'spki'), apiBase: fakes.alipay.url }
  ])
}

/**
 * The mini-program's login call on `platform` for `user`: the code its client
 * sends as `code` (qq.login, tt.login, ks.login, swan.getLoginCode,
 * my.getAuthCode).
 */
export function platformCode (fakes: PlatformFakes, platform: TestPlatform, user: string): string {
  switch (platform) {
    case 'qq': return fakes.qq.login(PLATFORM_APPS.qq.appid, user).code
    case 'douyin': return fakes.douyin.login(PLATFORM_APPS.douyin.appid, user).code
    case 'kuaishou': return fakes.kuaishou.login(PLATFORM_APPS.kuaishou.appid, user).code
    case 'baidu': return fakes.baidu.login(PLATFORM_APPS.baidu.appKey, user).code
    case 'alipay': return fakes.alipay.getAuthCode(PLATFORM_APPS.alipay.appid, user)
  }
}

/** The subject the platform names `user` by in its app, as /v1/me shows it. */
export function platformSubject (fakes: PlatformFakes, platform: TestPlatform, user: string): string {
  switch (platform) {
    case 'qq': return fakes.qq.openid(PLATFORM_APPS.qq.appid, user)
    case 'douyin': return fakes.douyin.openid(PLATFORM_APPS.douyin.appid, user)
    case 'kuaishou': return fakes.kuaishou.openid(PLATFORM_APPS.kuaishou.appid, user)
    case 'baidu': return fakes.baidu.openid(PLATFORM_APPS.baidu.appKey, user)
    case 'alipay': return fakes.alipay.userId(user)
  }
}

/** POST /v1/auth/login with `code` for this platform's app. */
export async function loginWith (app: FastifyInstance, platform: TestPlatform, code: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code, appid: PLATFORM_APPS[platform].appid } })
}

/** Plays the mini-program on `platform`: its login call at the fake, then POST /v1/auth/login; throws unless 200. */
export async function loginOn (
  app: FastifyInstance, fakes: PlatformFakes, platform: TestPlatform, user: string
): Promise<{ accessToken: string, refreshToken: string, user: { id: string, isNew: boolean } }> {
  const res = await loginWith(app, platform, platformCode(fakes, platform, user))
  if (res.statusCode !== 200) throw new Error(`${platform} login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}
