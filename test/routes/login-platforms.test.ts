import t, { type Test } from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, me, rowCounts } from '../helpers/auth.js'
import { PLATFORM_APPS, TEST_PLATFORMS, loginOn, loginWith, platformCode, platformSubject, type PlatformFakes, type TestPlatform } from '../helpers/platforms.js'

// POST /v1/auth/login for every platform other than WeChat (issue 21): the
// appid picks the platform, its adapter exchanges the code, its refusals and
// faults become PLATFORM_* codes, and nothing is written unless it says yes.

const NAMES: Record<TestPlatform, string> = { qq: 'QQ', douyin: 'Douyin', kuaishou: 'Kuaishou', baidu: 'Baidu', alipay: 'Alipay' }
const SUBJECT_KINDS: Record<TestPlatform, string> = { qq: 'openid', douyin: 'openid', kuaishou: 'open_id', baidu: 'openid', alipay: 'user_id' }
const NOTHING = { users: 0, identities: 0, sessions: 0, tokens: 0 }

/** How each fake is made to refuse with each kind the platform has (RefusalKind -> the catalogue's code). */
type Refuse = (fakes: PlatformFakes) => void
const errcode = (platform: 'qq' | 'douyin' | 'kuaishou', code: number): Refuse => (fakes) => { fakes[platform].setFault({ errcode: code, times: 3 }) }
const baidu = (error: string): Refuse => (fakes) => { fakes.baidu.refuse(error, { times: 3 }) }
const alipay = (subCode: string): Refuse => (fakes) => { fakes.alipay.setAnswerFault({ subCode, times: 3 }) }

const REFUSALS: Record<TestPlatform, Array<[Refuse, number, string]>> = {
  qq: [[errcode('qq', 40226), 403, 'PLATFORM_USER_BLOCKED'], [errcode('qq', 40013), 500, 'PLATFORM_CONFIG_INVALID'], [errcode('qq', 45011), 429, 'PLATFORM_RATE_LIMITED'],
    [errcode('qq', -1), 503, 'PLATFORM_BUSY'], [errcode('qq', 40163), 401, 'PLATFORM_CODE_INVALID'], [errcode('qq', 87001), 502, 'PLATFORM_ERROR']],
  douyin: [[errcode('douyin', 40017), 500, 'PLATFORM_CONFIG_INVALID'], [errcode('douyin', -1), 503, 'PLATFORM_BUSY'], [errcode('douyin', 40014), 502, 'PLATFORM_ERROR']],
  kuaishou: [[errcode('kuaishou', 100200101), 500, 'PLATFORM_CONFIG_INVALID'], [errcode('kuaishou', 100200999), 502, 'PLATFORM_ERROR']],
  baidu: [[baidu('invalid_client'), 500, 'PLATFORM_CONFIG_INVALID'], [baidu('server_error'), 503, 'PLATFORM_BUSY'], [baidu('access_denied'), 502, 'PLATFORM_ERROR']],
  alipay: [[alipay('isv.invalid-signature'), 500, 'PLATFORM_CONFIG_INVALID'], [alipay('isp.unknow-error'), 503, 'PLATFORM_BUSY'], [alipay('isv.user-frozen'), 502, 'PLATFORM_ERROR']]
}

/** Every failure answer: its code and status, the platform named, neither the code nor a secret in it. */
function checkFailure (
  t: Test, platform: TestPlatform, code: string, res: { statusCode: number, body: string }, expected: [number, string], label: string
): void {
  const body = JSON.parse(res.body) as { statusCode: number, code: string, message: string }
  t.match(body, { statusCode: expected[0], code: expected[1] }, `${platform} ${label}`)
  t.match(body.message, NAMES[platform], `${platform} ${label}: the message names the platform`)
  t.notMatch(res.body, code, `${platform} ${label}: the code is not echoed`)
  const app = PLATFORM_APPS[platform] as { secret?: string }
  if (app.secret !== undefined) t.notMatch(res.body, app.secret, `${platform} ${label}: nor the secret`)
}

for (const platform of TEST_PLATFORMS) {
  t.test(`${platform}: a login code becomes tokens and a user; /v1/me shows platform and subject`, async (t) => {
    const { app, platforms, prisma } = await build(t)
    const body = await loginOn(app, platforms, platform, 'ann')
    t.match(body, { tokenType: 'Bearer', user: { isNew: true } })
    t.equal(app.jwt.decode<{ appid: string }>(body.accessToken)!.appid, PLATFORM_APPS[platform].appid, "the token names the platform's app")
    const profile = await me(app, body.accessToken)
    t.match(profile, { id: body.user.id, appid: PLATFORM_APPS[platform].appid, platform, subject: platformSubject(platforms, platform, 'ann'), subjectKind: SUBJECT_KINDS[platform] })
    t.equal(profile.openid, SUBJECT_KINDS[platform] === 'openid' ? profile.subject : null)
    const [identity] = await prisma.$queryRaw<Array<{ platform: string, session_key_enc: string | null }>>`SELECT platform, session_key_enc FROM identities`
    t.equal(identity!.platform, platform)
    t.equal(identity!.session_key_enc === null, platform === 'alipay', 'a session_key is kept where the platform has one (not Alipay)')
    const again = await loginOn(app, platforms, platform, 'ann')
    t.same(again.user, { id: body.user.id, isNew: false }, 'a second login finds the same user')
    t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 2, tokens: 2 })
  })

  t.test(`${platform}: one code buys one grant; a replay after logout or the window is refused`, async (t) => {
    let now = Date.now()
    const { app, platforms, prisma } = await build(t, { clock: () => now })
    const code = platformCode(platforms, platform, 'ann')
    const first = await loginWith(app, platform, code)
    t.equal(first.statusCode, 200)
    now += 9_000
    const retry = await loginWith(app, platform, code)
    t.equal(retry.body, first.body, 'the same code within the window gets the same grant')
    const calls = () => [...platforms[platform].calls.values()].reduce((sum, n) => sum + n, 0)
    t.equal(calls(), 1, 'the platform was asked once')
    t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(first.json().accessToken) })).statusCode, 204)
    const spent = await loginWith(app, platform, code)
    t.match(spent.json(), { statusCode: 401, code: 'PLATFORM_CODE_USED', message: new RegExp(NAMES[platform]) }, 'its session ended: the code is spent')
    now += 2_000
    const late = await loginWith(app, platform, code)
    t.match(late.json(), { statusCode: 401, code: 'PLATFORM_CODE_INVALID' }, 'past the window the platform is asked, and refuses a used code')
    t.equal(calls(), 2)
    t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 1, tokens: 1 }, 'the replays wrote nothing')
  })

  t.test(`${platform}: every refusal and fault is a clear error that writes nothing`, async (t) => {
    const { app, platforms, prisma } = await build(t)
    const fake = platforms[platform]
    const invalid = 'not-a-code-the-platform-issued'
    checkFailure(t, platform, invalid, await loginWith(app, platform, invalid), [401, 'PLATFORM_CODE_INVALID'], 'unknown code')
    for (const [refuse, status, expected] of REFUSALS[platform]) {
      refuse(platforms)
      const code = platformCode(platforms, platform, 'ann')
      checkFailure(t, platform, code, await loginWith(app, platform, code), [status, expected], expected)
      fake.setFault(undefined)
      platforms.baidu.refuse(undefined)
      platforms.alipay.setAnswerFault(undefined)
    }
    const faults: Array<[object, number, string]> = [[{ status: 502 }, 502, 'PLATFORM_UNAVAILABLE'], [{ reset: true }, 502, 'PLATFORM_UNAVAILABLE'],
      [{ malformed: true }, 502, 'PLATFORM_UNAVAILABLE'], [{ delayMs: 1500 }, 504, 'PLATFORM_TIMEOUT']]
    for (const [fault, status, expected] of faults) {
      fake.setFault(fault)
      const code = platformCode(platforms, platform, 'ann')
      checkFailure(t, platform, code, await loginWith(app, platform, code), [status, expected], JSON.stringify(fault))
      fake.setFault(undefined)
    }
    const res = await loginWith(app, platform, platformCode(platforms, platform, 'ann'))
    if (res.headers['retry-after'] !== undefined) t.fail('no Retry-After on a success')
    t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 1, tokens: 1 }, 'only the login the platform said yes to wrote rows')
  })
}

t.test('QQ rate limit: 429 with Retry-After 60; too many waiting: 503 PLATFORM_OVERLOADED with Retry-After', async (t) => {
  const { app, platforms, prisma } = await build(t, { env: { WECHAT_MAX_CONNECTIONS: '1', WECHAT_MAX_PENDING: '1' } })
  platforms.qq.setFault({ errcode: 45011, times: 1 })
  const limited = await loginWith(app, 'qq', platformCode(platforms, 'qq', 'ann'))
  t.equal(limited.statusCode, 429)
  t.equal(limited.headers['retry-after'], '60')
  const held = platforms.qq.hold(1)
  const first = loginWith(app, 'qq', platformCode(platforms, 'qq', 'ann'))
  await held.arrived
  const second = await loginWith(app, 'qq', platformCode(platforms, 'qq', 'bob'))
  t.match(second.json(), { statusCode: 503, code: 'PLATFORM_OVERLOADED' })
  t.match(second.headers['retry-after'], /^\d+$/)
  held.release()
  t.equal((await first).statusCode, 200, 'the held login goes through')
  t.same(await rowCounts(prisma), { users: 1, identities: 1, sessions: 1, tokens: 1 })
})

t.test('a body without appid still means the one WeChat app; other platforms need theirs', async (t) => {
  const { app, fake, platforms } = await build(t)
  const { code } = fake.login(APP.appid, 'ann')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(res.statusCode, 200)
  t.equal(app.jwt.decode<{ appid: string }>(res.json().accessToken)!.appid, APP.appid)
  // A QQ code without its appid goes to WeChat, which does not know it.
  const qq = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: platformCode(platforms, 'qq', 'ann') } })
  t.match(qq.json(), { statusCode: 401, code: 'WECHAT_CODE_INVALID' })
  t.equal(platforms.qq.callCount('/sns/jscode2session'), 0)
})

t.test('one person on WeChat and on QQ is two users', async (t) => {
  const { app, fake, platforms, prisma } = await build(t)
  const wechat = await login(app, fake, 'ann')
  const qq = await loginOn(app, platforms, 'qq', 'ann')
  t.not(qq.user.id, wechat.user.id)
  t.same(await rowCounts(prisma), { users: 2, identities: 2, sessions: 2, tokens: 2 })
  t.match(await me(app, qq.accessToken), { platform: 'qq', hasUnionid: true })
})

t.test('attack: one person on WeChat and Douyin with the same unionid string is two users', async (t) => {
  const { app, fake, platforms, prisma } = await build(t)
  const wechat = await login(app, fake, 'ann')
  const unionid = fake.unionid('ann')
  // Douyin answers for its own user with the very text of Ann's WeChat unionid (a coincidence, or a crafted account).
  const { code } = platforms.douyin.login(PLATFORM_APPS.douyin.appid, 'mallory')
  platforms.douyin.setFault({
    body: { err_no: 0, err_tips: 'success', data: { openid: platforms.douyin.openid(PLATFORM_APPS.douyin.appid, 'mallory'), session_key: platforms.douyin.sessionKey(PLATFORM_APPS.douyin.appid, 'mallory'), unionid, anonymous_openid: '' } },
    times: 1
  })
  const douyin = (await loginWith(app, 'douyin', code)).json()
  t.ok(douyin.user.isNew, 'a user of its own')
  t.not(douyin.user.id, wechat.user.id, 'never joined to the WeChat user')
  const users = await prisma.$queryRaw<Array<{ id: string, unionid: string, union_platform: string }>>`SELECT id::text, unionid, union_platform FROM users ORDER BY union_platform`
  t.same(users.map((u) => [u.union_platform, u.unionid]), [['douyin', unionid], ['wechat', unionid]], 'the same text, scoped to two platforms')
  // And the other way round: a second Douyin login, then a WeChat app bound later, still keeps them apart.
  platforms.douyin.setFault({
    body: { err_no: 0, err_tips: 'success', data: { openid: platforms.douyin.openid(PLATFORM_APPS.douyin.appid, 'mallory'), session_key: platforms.douyin.sessionKey(PLATFORM_APPS.douyin.appid, 'mallory'), unionid, anonymous_openid: '' } },
    times: 1
  })
  const again = (await loginWith(app, 'douyin', platforms.douyin.login(PLATFORM_APPS.douyin.appid, 'mallory').code)).json()
  t.equal(again.user.id, douyin.user.id)
  t.equal((await login(app, fake, 'ann')).user.id, wechat.user.id)
  t.same(await rowCounts(prisma), { users: 2, identities: 2, sessions: 4, tokens: 4 })
})

t.test('attack: a Douyin anonymous code never creates a user', async (t) => {
  const { app, platforms, prisma } = await build(t)
  const { douyin } = platforms
  const appid = PLATFORM_APPS.douyin.appid
  const { anonymousCode } = douyin.ttLogin(appid, 'guest', { loggedIn: false })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { anonymousCode, appid } })
  t.match(res.json(), { statusCode: 400, code: 'PLATFORM_CODE_ANONYMOUS' })
  t.match(res.json().message, /Douyin/)
  t.equal(douyin.calls.size, 0, 'Douyin was not even asked')
  // Sent as a code, Douyin does not take it.
  t.match((await loginWith(app, 'douyin', douyin.ttLogin(appid, 'guest', { loggedIn: false }).anonymousCode)).json(), { statusCode: 401, code: 'PLATFORM_CODE_INVALID' })
  // An answer naming only a device, whatever was sent.
  douyin.setFault({ body: { err_no: 0, err_tips: 'success', data: { openid: '', session_key: '', unionid: '', anonymous_openid: douyin.anonymousOpenid(appid, 'guest') } } })
  t.match((await loginWith(app, 'douyin', douyin.login(appid, 'guest').code)).json(), { statusCode: 400, code: 'PLATFORM_CODE_ANONYMOUS' })
  douyin.setFault(undefined)
  for (const payload of [{ code: 'a', anonymousCode: 'b', appid }, { appid }]) {
    t.match((await app.inject({ method: 'POST', url: '/v1/auth/login', payload })).json(), { statusCode: 400, code: 'FST_ERR_VALIDATION' }, 'exactly one of code and anonymousCode')
  }
  t.same(await rowCounts(prisma), NOTHING)
})

t.test('attack: an Alipay answer with a forged signature logs nobody in', async (t) => {
  const { app, platforms, prisma } = await build(t)
  const { alipay } = platforms
  for (const fault of [{ forged: true }, { unsigned: true }, { forged: true, body: { user_id: alipay.userId('victim'), access_token: 'x' } }]) {
    alipay.setAnswerFault(fault)
    const res = await loginWith(app, 'alipay', alipay.getAuthCode(PLATFORM_APPS.alipay.appid, 'mallory'))
    t.match(res.json(), { statusCode: 502, code: 'PLATFORM_UNAVAILABLE' }, JSON.stringify(fault))
  }
  alipay.setAnswerFault(undefined)
  t.same(await rowCounts(prisma), NOTHING)
  t.ok((await loginOn(app, platforms, 'alipay', 'ann')).user.isNew, 'a signed answer still logs in')
})
