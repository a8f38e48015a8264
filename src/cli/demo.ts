import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createAuthClient } from 'weapp-auth-client'
import { ConfigError, loadConfig, type Config } from '../config/index.js'
import { spawnListening } from '../dev/spawn.js'
import { RuntimeSimulator, type RuntimeCall } from '../dev/runtime-simulator.js'
import { fakeWechatInfoFile } from '../dev/zero-config.js'

// `npm run demo`: plays a mini-program through the client SDK (client/) in a
// simulated wx runtime, against the service and its bundled fake WeChat:
// a request that logs in, a restart, expiry and one refresh for three
// requests, decrypt and verify of user info, the phone button, logout. Uses the
// running service on HOST:PORT, or starts one (embedded defaults) for its length.

const out = (line: string): void => { process.stdout.write(`${line}\n`) }

/** Tokens and codes are secrets even in a demo: show enough to tell them apart. */
const mask = (secret: string): string => `${secret.slice(0, 4)}…${secret.slice(-6)}`

function traceLine (call: RuntimeCall): string {
  if (call.api === 'login') return `   wx.login() -> ${call.code !== undefined ? `code ${mask(call.code)}` : call.errMsg}`
  if (call.api === 'checkSession') return `   wx.checkSession() -> ${call.valid ? 'ok' : 'fail'}`
  const bearer = call.authorization === undefined ? '' : ` [Bearer ${mask(call.authorization.slice(7))}]`
  return `   wx.request ${call.method} ${new URL(call.url).pathname}${bearer} -> ${call.statusCode ?? call.errMsg}`
}

const step = (title: string): void => out(`\n== ${title}`)
const show = (label: string, value: unknown): void => out(`   ${label}: ${JSON.stringify(value)}`)

function expect (condition: boolean, what: string): void {
  if (!condition) throw new Error(`the demo flow did not go as expected: ${what}`)
}

async function reachable (base: string): Promise<boolean> {
  try { return (await fetch(`${base}/healthz`)).ok } catch { return false }
}

async function play (base: string, config: Config): Promise<void> {
  const fake = JSON.parse(await readFile(fakeWechatInfoFile(config.dataDir), 'utf8').catch(() => {
    throw new Error('the service is not running on the bundled fake WeChat (no WECHAT_APPID): the demo needs it to play wx.login()')
  })) as { url: string, appid: string }

  const paths: string[] = []
  const wx = new RuntimeSimulator({
    wechatUrl: fake.url,
    appid: fake.appid,
    user: 'demo-user',
    onCall: (call) => {
      if (call.api === 'request') paths.push(new URL(call.url).pathname)
      out(traceLine(call))
    }
  })
  // The device's clock, moved forward to play the passing of time.
  let skew = 0
  const now = (): number => Date.now() + skew
  const auth = createAuthClient({ baseUrl: base, wx, now })
  const count = (path: string): number => paths.filter((p) => p === path).length

  step("1. client.request({ url: '/v1/me' }) with no tokens: the client logs in first")
  const me = await auth.request<{ id: string, openid: string }>({ url: '/v1/me' })
  show(`${me.statusCode}`, { id: me.data.id, openid: me.data.openid })
  expect(me.statusCode === 200 && wx.calls.login === 1, 'login then /v1/me')

  step('2. the mini-program restarts: a new client on the same storage is still signed in, no wx.login()')
  const restarted = createAuthClient({ baseUrl: base, wx, now })
  show('isLoggedIn()', restarted.isLoggedIn())
  const session = await restarted.request<{ expiresAt: string }>({ url: '/v1/auth/session' })
  show(`${session.statusCode}`, session.data)
  expect(session.statusCode === 200 && wx.calls.login === 1, 'signed in from storage')

  step('3. 15 minutes later the access token is about to expire: three requests at once, one refresh')
  skew += 15 * 60 * 1000
  const three = await Promise.all([1, 2, 3].map(() => restarted.request({ url: '/v1/me' })))
  show('statuses', three.map((r) => r.statusCode))
  expect(count('/v1/auth/refresh') === 1 && three.every((r) => r.statusCode === 200), 'one refresh for three requests')

  step("4. decrypt the user info WeChat sealed for this user's session_key (wx.getUserProfile)")
  const ensured = wx.calls.login
  await restarted.ensureSessionKey()
  const sealed = await wx.getUserProfile({ nickName: '小程序用户 🐼', city: 'Shenzhen', country: 'China' })
  const opened = await restarted.decrypt(sealed) as { nickName: string, watermark: unknown }
  show('decrypt', { nickName: opened.nickName, watermark: opened.watermark })
  const verified = await restarted.verify({ rawData: sealed.rawData, signature: sealed.signature })
  show('verify rawData', verified)
  expect(opened.nickName === '小程序用户 🐼' && wx.calls.login === ensured, 'decrypted with the current session_key')

  step('5. the getPhoneNumber button: its code, exchanged by the service')
  const phone = await restarted.phone(await wx.phoneNumberCode())
  show('phone', phone)

  step('6. logout: the session ends on the service and the tokens leave storage')
  await restarted.logout()
  show('isLoggedIn()', restarted.isLoggedIn())
  show('storage', wx.getStorageSync('weapp-auth'))
  expect(!restarted.isLoggedIn() && count('/v1/auth/logout') === 1, 'logged out')

  out(`\nwx.login() calls: ${wx.calls.login}; requests: ${wx.calls.request} (${count('/v1/auth/login')} login, ${count('/v1/auth/refresh')} refresh)`)
}

let child: ChildProcess | undefined
try {
  const config = loadConfig()
  if (config.env === 'production') throw new Error('the demo plays a fake WeChat and refuses to run with NODE_ENV=production')
  let base = process.env.DEMO_SERVICE_URL ?? `http://${config.host}:${config.port}`
  if (!await reachable(base)) {
    out(`no service at ${base}: starting one for the demo (embedded defaults)`)
    const started = await spawnListening(fileURLToPath(new URL('../server.js', import.meta.url)), { ...process.env, PORT: '0' })
    child = started.child
    base = started.url
  }
  out(`playing a mini-program through weapp-auth-client against ${base}`)
  await play(base, config)
  out('\ndemo finished')
} catch (error) {
  process.stderr.write(`weapp-auth demo: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`)
  process.exitCode = 1
} finally {
  child?.kill('SIGTERM')
}
