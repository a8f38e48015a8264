import { randomBytes } from 'node:crypto'
import t from 'tap'
import { RefreshTokens } from '../../src/sessions/refresh-token.js'
import { SessionRepository } from '../../src/sessions/repository.js'
import { UserRepository, type IdentityLogin } from '../../src/users/repository.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, build, type Built } from '../helper.js'
import { bearer, login, me, rowCounts } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// An identity is (platform, appid, subject), and a unionid links identities
// only within its own platform: a Douyin unionid that happens to be the same
// string as a WeChat user's is another person's. Exercised at the repository,
// the layer that keys and links identities, with platforms not wired yet.

const DOUYIN = 'tt0000000000000001'
const newKey = () => randomBytes(16).toString('base64')

function usersOf (built: Built): UserRepository {
  const { database, config } = built
  return new UserRepository(
    database, new SessionKeyVault(config.vaultKeys), new SessionRepository(database, config.jwt, new RefreshTokens(config.vaultKeys))
  )
}

const subOf = (built: Built, accessToken: string) => built.app.jwt.decode<{ sub: string }>(accessToken)!.sub

const unionids = async (built: Built) =>
  built.prisma.$queryRaw<{ id: string, unionid: string, union_platform: string }[]>`SELECT id::text, unionid, union_platform FROM users WHERE unionid IS NOT NULL ORDER BY union_platform`

t.test('attack: a Douyin unionid identical to a WeChat user\'s never joins that user', async (t) => {
  const built = await build(t)
  const users = usersOf(built)
  const frank = await login(built.app, built.fake, 'frank')
  const unionid = built.fake.unionid('frank')

  const first = { platform: 'douyin', appid: DOUYIN, subject: 'douyin-openid-1', subjectKind: 'openid', unionid, sessionKey: newKey() } as const
  t.equal(await users.findIdentity('douyin', DOUYIN, first.subject), undefined)
  const douyin = await users.recordFirstLogin(first)
  t.not(douyin.userId, frank.user.id, 'the Douyin login is not the WeChat user')
  t.equal(douyin.isNewUser, true)

  // Within its platform the unionid still links: a second Douyin app of the same developer.
  const second = await users.recordFirstLogin({ ...first, appid: 'tt0000000000000002', subject: 'douyin-openid-2', sessionKey: newKey() })
  t.equal(second.userId, douyin.userId, 'a second Douyin app of the same unionid joins the Douyin user')
  t.same((await unionids(built)).map((u) => [u.id, u.union_platform]), [[douyin.userId, 'douyin'], [frank.user.id, 'wechat']],
    'one user per platform holds the string')
})

t.test('attack: a Douyin identity linking a unionid a WeChat user holds is not moved to that user', async (t) => {
  const built = await build(t)
  const users = usersOf(built)
  const frank = await login(built.app, built.fake, 'frank')
  const unionid = built.fake.unionid('frank')

  // Its app bound to the developer's account after the first login: the unionid arrives on a later login.
  const douyin = await users.recordFirstLogin({ platform: 'douyin', appid: DOUYIN, subject: 'douyin-openid-1', subjectKind: 'openid', sessionKey: newKey() })
  const link = await users.linkUnionid(douyin.identityId, douyin.userId, 'douyin', unionid)
  t.same(link, { userId: douyin.userId, user_disabled: false }, 'the identity stays with its own user')
  t.same((await unionids(built)).map((u) => [u.id, u.union_platform]), [[douyin.userId, 'douyin'], [frank.user.id, 'wechat']])
  const refreshed = await built.app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: frank.refreshToken } })
  t.equal(subOf(built, refreshed.json().accessToken), frank.user.id, 'the WeChat user is untouched')
})

t.test('attack: the same subject under the same appid string on two platforms is two identities and two users', async (t) => {
  const built = await build(t)
  const users = usersOf(built)
  const wechat = { platform: 'wechat', appid: 'shared-appid', subject: 'same-subject', subjectKind: 'openid', sessionKey: newKey() } as const
  const one = await users.recordFirstLogin(wechat)
  t.equal(await users.findIdentity('douyin', wechat.appid, wechat.subject), undefined, 'the WeChat identity is not the Douyin one')
  const other = await users.recordFirstLogin({ ...wechat, platform: 'douyin', sessionKey: newKey() })
  t.not(other.identityId, one.identityId)
  t.not(other.userId, one.userId)
  t.equal((await users.findIdentity('wechat', wechat.appid, wechat.subject))?.id, one.identityId, 'each platform finds its own')
  t.equal((await users.findIdentity('douyin', wechat.appid, wechat.subject))?.id, other.identityId)
  t.match(await rowCounts(built.prisma), { users: 2, identities: 2 })
})

t.test('one person on two platforms is two users; on two WeChat apps of one unionid, one', async (t) => {
  const built = await build(t)
  const users = usersOf(built)
  const unionid = 'o-the-same-person'
  const base = { subject: 'subject-of-ann', subjectKind: 'openid', unionid } as const
  const wxA = await users.recordFirstLogin({ ...base, platform: 'wechat', appid: 'wx-a', sessionKey: newKey() })
  const wxB = await users.recordFirstLogin({ ...base, platform: 'wechat', appid: 'wx-b', subject: 'other-subject', sessionKey: newKey() })
  const qq = await users.recordFirstLogin({ ...base, platform: 'qq', appid: 'qq-a', sessionKey: newKey() })
  t.equal(wxB.userId, wxA.userId)
  t.not(qq.userId, wxA.userId)
  t.match(await rowCounts(built.prisma), { users: 2, identities: 3 })
})

t.test('an identity without a session_key (Alipay) logs in, shows on /v1/me, and decrypt answers a clear 400', async (t) => {
  const built = await build(t)
  const users = usersOf(built)
  const alipay: IdentityLogin = { platform: 'alipay', appid: '2021000000000001', subject: '2088000000000001', subjectKind: 'user_id' }
  const first = await users.recordFirstLogin(alipay)
  const identity = await users.findIdentity('alipay', alipay.appid, alipay.subject)
  t.equal(identity?.session_key_enc, null, 'no session_key is stored')
  const again = await users.recordReturningLogin(identity!, alipay)
  t.equal(again.userId, first.userId)

  const iat = Math.floor(Date.now() / 1000)
  const token = built.app.signAccessToken({ sub: again.userId, sid: again.sessionId, appid: alipay.appid }, { iat, exp: iat + 600 })
  t.match(await me(built.app, token), { id: first.userId, platform: 'alipay', subject: alipay.subject, subjectKind: 'user_id', openid: null, appid: alipay.appid })

  const payload = sealWithKey(newKey(), { nickName: 'ann', watermark: { appid: alipay.appid, timestamp: iat } })
  const decrypt = await built.app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(token), payload })
  t.match(decrypt.json(), { statusCode: 400, code: 'SESSION_KEY_ABSENT' })
  const verify = await built.app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(token), payload: { rawData: '{}', signature: 'a'.repeat(40) } })
  // Alipay signs no rawData: the scheme is refused first (docs/api.md), as the data routes' fuzz test expects.
  t.match(verify.json(), { statusCode: 400, code: 'SCHEME_UNSUPPORTED' })
})

t.test('/v1/me of a WeChat session: its platform and subject, and openid as before', async (t) => {
  const { app, fake } = await build(t)
  const ann = await login(app, fake, 'ann')
  const openid = fake.openid(APP.appid, 'ann')
  t.match(await me(app, ann.accessToken), { platform: 'wechat', subject: openid, subjectKind: 'openid', openid, appid: APP.appid, hasUnionid: true })
})
