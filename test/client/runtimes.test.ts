import t from 'tap'
import { createAuthClient, type AuthClient, type AuthClientOptions } from '../../client/dist/index.js'
import type { FakeServer } from '../../src/dev/fake-server.js'
import { RuntimeSimulator, type Platform, type RuntimeCall } from '../../src/dev/runtime-simulator.js'
import { APP } from '../helper.js'
import { PLATFORM_APPS } from '../helpers/platforms.js'
import { repoFile, runCommonJs } from '../helpers/miniprogram.js'
import { authError, liveSessions, serve, type Served } from '../helpers/client.js'

// The SDK on each platform's runtime (wx, qq, tt, swan, my, ks), against the
// real service and that platform's fake: each runtime's login code comes from
// its own platform's fake (over the fake's /__fake HTTP API, as the demo's
// does) and logs into its own app (POST /v1/auth/login { code, appid }).

interface PlatformUnderTest {
  /** What the SDK calls for a code, as the trace names it. */
  loginApi: string
  /** The app at the service. */
  appid: string
  /** The platform's fake, and the app's name there (Baidu: its appKey). */
  fake: (served: Served) => FakeServer
  fakeAppid: string
}

const on = (loginApi: string, fake: PlatformUnderTest['fake'], appid: string, fakeAppid = appid): PlatformUnderTest => ({ loginApi, appid, fake, fakeAppid })

const PLATFORMS: Record<Platform, PlatformUnderTest> = {
  wx: on('wx.login', (served) => served.fake, APP.appid),
  qq: on('qq.login', (served) => served.platforms.qq, PLATFORM_APPS.qq.appid),
  tt: on('tt.login', (served) => served.platforms.douyin, PLATFORM_APPS.douyin.appid),
  swan: on('swan.getLoginCode', (served) => served.platforms.baidu, PLATFORM_APPS.baidu.appid, PLATFORM_APPS.baidu.appKey),
  my: on('my.getAuthCode', (served) => served.platforms.alipay, PLATFORM_APPS.alipay.appid),
  ks: on('ks.login', (served) => served.platforms.kuaishou, PLATFORM_APPS.kuaishou.appid)
}

function phone (
  served: Served, platform: Platform, options: { user?: string, storage?: Map<string, string>, calls?: RuntimeCall[] } = {}
): RuntimeSimulator {
  const { fake, fakeAppid } = PLATFORMS[platform]
  return new RuntimeSimulator({
    platform,
    fakeUrl: fake(served).url,
    appid: fakeAppid,
    user: options.user ?? 'alice',
    ...(options.storage !== undefined ? { storage: options.storage } : {}),
    ...(options.calls !== undefined ? { onCall: (call: RuntimeCall) => options.calls!.push(call) } : {})
  })
}

const sdk = (served: Served, sim: RuntimeSimulator, options: Partial<AuthClientOptions> = {}): AuthClient =>
  createAuthClient({ baseUrl: served.url, api: sim.global, platform: sim.platform, appid: PLATFORMS[sim.platform].appid, ...options })

for (const platform of Object.keys(PLATFORMS) as Platform[]) {
  const { loginApi, appid } = PLATFORMS[platform]

  t.test(`${platform}: a request logs in with ${loginApi}, sends { code, appid }, and carries the Bearer token; a restart is signed in from ${platform}'s storage`, async (t) => {
    const served = await serve(t)
    const calls: RuntimeCall[] = []
    const sim = phone(served, platform, { calls })
    const auth = sdk(served, sim)
    const me = await auth.request<{ userId: string, appid: string }>({ url: '/v1/me' })
    t.equal(me.statusCode, 200)
    t.equal(me.data.appid, appid, 'the session is for the appid the login sent')
    t.equal(sim.calls.login, 1)
    t.equal(served.hits('POST /v1/auth/login'), 1)
    t.match(calls.find((call) => call.api === 'request' && call.url.endsWith('/v1/me')), { authorization: /^Bearer / }, 'the token went in the header')

    const restarted = phone(served, platform, { storage: sim.storage })
    const again = await sdk(served, restarted).request<{ userId: string }>({ url: '/v1/me' })
    t.same([again.statusCode, again.data.userId], [200, me.data.userId])
    t.equal(restarted.calls.login, 0, 'no login after the restart')
  })

  t.test(`${platform}: a 401 (a revoked session) is read as a 401: one login again, not a success and not a network error`, async (t) => {
    const served = await serve(t)
    const sim = phone(served, platform)
    const auth = sdk(served, sim)
    const first = await auth.request<{ userId: string }>({ url: '/v1/me' })
    await served.prisma.$executeRaw`UPDATE sessions SET revoked_at = now()`
    const me = await auth.request<{ userId: string }>({ url: '/v1/me' })
    t.same([me.statusCode, me.data.userId], [200, first.data.userId], 'served after one login')
    t.equal(sim.calls.login, 2)
    t.equal(served.hits('GET /v1/me'), 3, 'the revoked request, then its replay')
  })

  t.test(`${platform}: the service's error answer rejects with its code; logout ends the session at the service`, async (t) => {
    const served = await serve(t)
    const sim = phone(served, platform)
    const auth = sdk(served, sim)
    // WeChat's phone code is refused as before; other platforms' phone takes other bodies (or none): a 400 with the service's code.
    await t.rejects(auth.phone('not-a-phone-code'), platform === 'wx' ? authError('PHONE_CODE_INVALID', 400) : { ...authError('', 400), code: /^[A-Z][A-Z_]+$/ })
    t.equal(await liveSessions(served), 1)
    await auth.logout()
    t.equal(await liveSessions(served), 0)
    t.equal(auth.isLoggedIn(), false)
  })
}

t.test('attack: a tt.login answer with only anonymousCode never sends a login: it rejects WX_LOGIN_FAILED, and the next login works', async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'tt')
  const auth = sdk(served, sim)
  sim.anonymousLogins = 1
  await t.rejects(auth.login(), { ...authError('WX_LOGIN_FAILED'), message: /tt\.login gave no code/ })
  t.equal(served.hits('POST /v1/auth/login'), 0, 'the anonymousCode went nowhere')
  t.equal(auth.isLoggedIn(), false)
  t.match(await auth.login(), { userId: String })
  t.equal(sim.calls.login, 2)
})

t.test('attack: my.getAuthCode is asked for auth_base (silent, no consent popup), and its authCode is what logs in', async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'my')
  const auth = sdk(served, sim)
  await auth.login()
  t.same(sim.authScopes, ['auth_base'])
  sim.failLogins = 1
  await t.rejects(auth.logout().then(() => auth.login()), { ...authError('WX_LOGIN_FAILED'), message: /login:fail network unavailable/ }, "my's errorMessage is the message")
})

t.test("attack: my.request's status is read, so a 401 is not taken for success; an HTTP error (fail { error: 19 }) is an answer with its code", async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'my')
  const api = `${served.url.replace('127.0.0.1', 'localhost')}`
  const auth = sdk(served, sim, { apiOrigins: [api] })
  await auth.login()
  // An API of the app that refuses every token: 401 each time, through my.request's fail { error: 19, status }.
  sim.standIn = ({ url }) => url.startsWith(api) ? { statusCode: 401, body: JSON.stringify({ code: 'NOT_A_MEMBER' }), header: { 'content-type': 'application/json' } } : undefined
  await t.rejects(auth.request({ url: `${api}/club` }), authError('NOT_A_MEMBER', 401))
  t.equal(sim.calls.login, 2, 'the 401 cost one login, then rejected')
  sim.standIn = ({ url }) => url.startsWith(api) ? { statusCode: 204, body: '' } : undefined
  t.match(await auth.request({ url: `${api}/club`, dataType: 'text' }), { statusCode: 204, data: '' }, "a success's status is read from `status`")
})

t.test("attack: a portal's HTML page answering my's login (fail { error: 14 }, status 200) is BAD_RESPONSE, not a network error; nothing is stored", async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'my')
  const auth = sdk(served, sim)
  sim.standIn = () => ({ statusCode: 200, body: '<html>Welcome to the airport Wi-Fi</html>', header: { 'content-type': 'text/html' } })
  await t.rejects(auth.login(), authError('BAD_RESPONSE', 200))
  t.equal(sim.storage.size, 0)
})

t.test('attack: a my.setStorageSync answering { error } (storage full) is a failed write: reported, and the rotated pair is not left in storage', async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'my')
  const auth = sdk(served, sim)
  const events: { type: string }[] = []
  auth.onChange((event) => events.push(event))
  sim.failStorageWrites = 1
  await auth.login()
  t.match(events, [{ type: 'storageError' }, { type: 'signIn' }])
  t.equal(sim.storage.has('weapp-auth'), false, 'nothing half-written')
  t.equal(auth.isLoggedIn(), true, 'the session is kept in memory')
})

t.test('my has no checkSession (no session_key on Alipay): ensureSessionKey logs in when signed out, and only then', async (t) => {
  const served = await serve(t)
  const sim = phone(served, 'my')
  const auth = sdk(served, sim)
  await auth.ensureSessionKey()
  await auth.ensureSessionKey()
  t.equal(sim.calls.login, 1)
  t.equal(sim.calls.checkSession, 0)
})

t.test('the runtime is found without options: the global of the platform (or `platform` names it), wx first', async (t) => {
  const served = await serve(t)
  const code = await repoFile('client/miniprogram_dist/index.js')
  const load = (globals: Record<string, unknown>) => runCommonJs(code, 'miniprogram_dist/index.js', { setTimeout, clearTimeout, ...globals }).exports
  for (const platform of ['tt', 'swan', 'my', 'ks', 'qq'] as const) {
    const sim = phone(served, platform)
    const { createAuthClient } = load({ [platform]: sim.global })
    const me = await createAuthClient({ baseUrl: served.url, appid: PLATFORMS[platform].appid }).request({ url: '/v1/me' })
    t.equal(me.statusCode, 200, `the global ${platform}`)
    t.equal(sim.calls.login, 1)
  }
  const my = phone(served, 'my')
  const wx = phone(served, 'wx', { user: 'bob' })
  const { createAuthClient } = load({ wx, my: my.global })
  await createAuthClient({ baseUrl: served.url }).login()
  t.same([wx.calls.login, my.calls.login], [1, 0], 'wx first: a runtime that has wx is wx-shaped')
  await createAuthClient({ baseUrl: served.url, platform: 'my', appid: PLATFORMS.my.appid }).login()
  t.equal(my.calls.login, 1, '`platform` picks the global')
  await createAuthClient({ baseUrl: served.url, api: my.global, appid: PLATFORMS.my.appid }).login()
  t.equal(my.calls.login, 2, 'an `api` that is a known global is that platform')
  t.throws(() => load({}).createAuthClient({ baseUrl: served.url }), /no wx, qq, tt, swan, my, ks/)
})
