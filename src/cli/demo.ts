import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createAuthClient } from 'weapp-auth-client'
import { ConfigError, loadConfig, type Config, type Platform } from '../config/index.js'
import { PLATFORMS } from '../config/apps.js'
import { spawnListening } from '../dev/spawn.js'
import { RuntimeSimulator, type Platform as Runtime, type RuntimeCall } from '../dev/runtime-simulator.js'
import { fakePlatformsInfoFile, type FakePlatformsInfo } from '../dev/zero-config.js'

// `npm run demo`: plays a mini-program through the client SDK (client/) in a
// simulated runtime of DEMO_PLATFORM (default wechat; a comma list or `all`
// plays several in turn), against the service and that platform's bundled
// fake: a request that logs in, a restart, expiry and one refresh for three
// requests, the user data the platform has (decrypt and verify of user info,
// the phone button), logout. Uses the running service on HOST:PORT, or starts
// one (embedded defaults) for its length.

/** What the demo plays on each platform: its runtime, the name its own people use, and which user-data calls it has. */
const PLAYS: Record<Platform, { runtime: Runtime, name: string, decrypt: boolean, verify: boolean, phone: 'code' | 'sealed' | 'none' }> = {
  wechat: { runtime: 'wx', name: 'WeChat', decrypt: true, verify: true, phone: 'code' },
  qq: { runtime: 'qq', name: 'QQ', decrypt: true, verify: true, phone: 'none' },
  douyin: { runtime: 'tt', name: 'Douyin', decrypt: true, verify: true, phone: 'sealed' },
  baidu: { runtime: 'swan', name: 'Baidu', decrypt: true, verify: false, phone: 'sealed' },
  alipay: { runtime: 'my', name: 'Alipay', decrypt: false, verify: false, phone: 'sealed' },
  kuaishou: { runtime: 'ks', name: 'Kuaishou', decrypt: true, verify: true, phone: 'sealed' }
}

const LOGIN_API: Record<Runtime, string> = { wx: 'wx.login', qq: 'qq.login', tt: 'tt.login', swan: 'swan.getLoginCode', my: 'my.getAuthCode', ks: 'ks.login' }

const out = (line: string): void => { process.stdout.write(`${line}\n`) }

/** Tokens and codes are secrets even in a demo: show enough to tell them apart. */
const mask = (secret: string): string => `${secret.slice(0, 4)}…${secret.slice(-6)}`

function traceLine (runtime: Runtime, call: RuntimeCall): string {
  if (call.api === 'login') return `   ${LOGIN_API[runtime]}() -> ${call.code !== undefined ? `code ${mask(call.code)}` : call.errMsg}`
  if (call.api === 'checkSession') return `   ${runtime}.checkSession() -> ${call.valid ? 'ok' : 'fail'}`
  const bearer = call.authorization === undefined ? '' : ` [Bearer ${mask(call.authorization.slice(7))}]`
  return `   ${runtime}.request ${call.method} ${new URL(call.url).pathname}${bearer} -> ${call.statusCode ?? call.errMsg}`
}

const step = (title: string): void => out(`\n== ${title}`)
const show = (label: string, value: unknown): void => out(`   ${label}: ${JSON.stringify(value)}`)

function expect (condition: boolean, what: string): void {
  if (!condition) throw new Error(`the demo flow did not go as expected: ${what}`)
}

async function reachable (base: string): Promise<boolean> {
  try { return (await fetch(`${base}/healthz`)).ok } catch { return false }
}

/** DEMO_PLATFORM: one platform, a comma list, or `all`; anything else is refused with the list. */
function demoPlatforms (value = 'wechat'): Platform[] {
  const names = value === 'all' ? [...PLATFORMS] : value.split(',').map((name) => name.trim())
  const unknown = names.filter((name) => !(PLATFORMS as readonly string[]).includes(name))
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`DEMO_PLATFORM: ${unknown.map((name) => JSON.stringify(name)).join(', ') || 'empty'} is not a platform; one of ${PLATFORMS.join(', ')} (a comma list, or all)`)
  }
  return names as Platform[]
}

async function fakesOf (config: Config): Promise<FakePlatformsInfo> {
  return JSON.parse(await readFile(fakePlatformsInfoFile(config.dataDir), 'utf8').catch(() => {
    throw new Error('the service is not running on the bundled fake platforms (WECHAT_APPID or APPS is set): the demo needs them to play the runtime\'s login')
  })) as FakePlatformsInfo
}

async function play (base: string, platform: Platform, fakes: FakePlatformsInfo): Promise<void> {
  const { runtime, name, ...has } = PLAYS[platform]
  const fake = fakes[platform]
  const loginApi = LOGIN_API[runtime]
  const paths: string[] = []
  const sim = new RuntimeSimulator({
    platform: runtime,
    fakeUrl: fake.url,
    appid: fake.fakeAppid,
    user: 'demo-user',
    onCall: (call) => {
      if (call.api === 'request') paths.push(new URL(call.url).pathname)
      out(traceLine(runtime, call))
    }
  })
  // The device's clock, moved forward to play the passing of time.
  let skew = 0
  const now = (): number => Date.now() + skew
  const options = { baseUrl: base, api: sim.global, platform: runtime, now, ...(platform === 'wechat' ? {} : { appid: fake.appid }) }
  const auth = createAuthClient(options)
  const count = (path: string): number => paths.filter((p) => p === path).length

  step("1. client.request({ url: '/v1/me' }) with no tokens: the client logs in first")
  const me = await auth.request<{ id: string, openid: string | null, platform: string, subject: string }>({ url: '/v1/me' })
  show(`${me.statusCode}`, platform === 'wechat' ? { id: me.data.id, openid: me.data.openid } : { id: me.data.id, platform: me.data.platform, subject: me.data.subject })
  expect(me.statusCode === 200 && sim.calls.login === 1, 'login then /v1/me')

  step(`2. the mini-program restarts: a new client on the same storage is still signed in, no ${loginApi}()`)
  const restarted = createAuthClient(options)
  show('isLoggedIn()', restarted.isLoggedIn())
  const session = await restarted.request<{ expiresAt: string }>({ url: '/v1/auth/session' })
  show(`${session.statusCode}`, session.data)
  expect(session.statusCode === 200 && sim.calls.login === 1, 'signed in from storage')

  step('3. 15 minutes later the access token is about to expire: three requests at once, one refresh')
  skew += 15 * 60 * 1000
  const three = await Promise.all([1, 2, 3].map(() => restarted.request({ url: '/v1/me' })))
  show('statuses', three.map((r) => r.statusCode))
  expect(count('/v1/auth/refresh') === 1 && three.every((r) => r.statusCode === 200), 'one refresh for three requests')

  if (has.decrypt) {
    step(`4. decrypt the user info ${name} sealed for this user's session_key (${runtime}.getUserProfile)`)
    const ensured = sim.calls.login
    await restarted.ensureSessionKey()
    const sealed = await sim.userInfo({ nickName: '小程序用户 🐼', city: 'Shenzhen', country: 'China' })
    const opened = await restarted.decrypt(sealed) as { nickName: string, watermark: unknown }
    show('decrypt', { nickName: opened.nickName, watermark: opened.watermark })
    if (has.verify) show('verify rawData', await restarted.verify({ rawData: sealed.rawData!, signature: sealed.signature! }))
    expect(opened.nickName === '小程序用户 🐼' && sim.calls.login === ensured, 'decrypted with the current session_key')
  } else {
    step(`4. ${name} has no session_key: no user data to decrypt or verify`)
  }

  if (has.phone === 'code') {
    step('5. the getPhoneNumber button: its code, exchanged by the service')
    show('phone', await restarted.phone(await sim.phoneNumberCode()))
  } else if (has.phone === 'sealed') {
    step(`5. the getPhoneNumber button: ${name} seals the number, the service opens it`)
    const phone = await restarted.request({ url: '/v1/auth/phone', method: 'POST', data: await sim.phoneData() })
    show(`${phone.statusCode}`, phone.data)
    expect(phone.statusCode === 200, 'the phone number opened')
  } else {
    step(`5. ${name} has no phone number button`)
  }

  step('6. logout: the session ends on the service and the tokens leave storage')
  await restarted.logout()
  show('isLoggedIn()', restarted.isLoggedIn())
  show('storage', sim.getStorageSync('weapp-auth'))
  expect(!restarted.isLoggedIn() && count('/v1/auth/logout') === 1, 'logged out')

  out(`\n${loginApi}() calls: ${sim.calls.login}; requests: ${sim.calls.request} (${count('/v1/auth/login')} login, ${count('/v1/auth/refresh')} refresh)`)
}

let child: ChildProcess | undefined
try {
  const config = loadConfig()
  if (config.env === 'production') throw new Error('the demo plays the bundled fake platforms and refuses to run with NODE_ENV=production')
  const platforms = demoPlatforms(process.env.DEMO_PLATFORM)
  let base = process.env.DEMO_SERVICE_URL ?? `http://${config.host}:${config.port}`
  if (!await reachable(base)) {
    out(`no service at ${base}: starting one for the demo (embedded defaults)`)
    const started = await spawnListening(fileURLToPath(new URL('../server.js', import.meta.url)), { ...process.env, PORT: '0' })
    child = started.child
    base = started.url
  }
  const fakes = await fakesOf(config)
  for (const platform of platforms) {
    if (platforms.length > 1) out(`\n=== ${PLAYS[platform].name} (${PLAYS[platform].runtime})`)
    out(`playing a mini-program through weapp-auth-client against ${base}`)
    await play(base, platform, fakes)
  }
  out('\ndemo finished')
} catch (error) {
  process.stderr.write(`weapp-auth demo: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`)
  process.exitCode = 1
} finally {
  child?.kill('SIGTERM')
}
