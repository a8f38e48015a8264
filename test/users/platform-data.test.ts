import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import t, { type Test } from 'tap'
import { sealForUser, signRawData } from '../../src/dev/fake-wechat-data.js'
import type { Platform } from '../../src/platforms/adapter.js'
import { sealAlipayPhone } from '../../src/platforms/alipay-crypto.js'
import { sealBaiduData } from '../../src/platforms/baidu-crypto.js'
import { RefreshTokens } from '../../src/sessions/refresh-token.js'
import { SessionRepository } from '../../src/sessions/repository.js'
import { UserRepository } from '../../src/users/repository.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, build, type Built } from '../helper.js'
import { me, post } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// The user-data routes on every platform (issue 21, item 3). Sessions are
// recorded at the repository, as a login of each platform records them; the
// data is sealed as each platform's client seals it (src/dev/, baidu-crypto,
// alipay-crypto), independently of the code that opens it.

const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 })
const alipayKeys = rsa()
const appKeys = rsa()
const pem = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ type, format: 'pem' } as const).toString()
const AES_KEY = randomBytes(16)

const APPS = {
  qq: { platform: 'qq', appid: 'qq-app', secret: 'qq-secret' },
  douyin: { platform: 'douyin', appid: 'tt-app', secret: 'tt-secret' },
  kuaishou: { platform: 'kuaishou', appid: 'ks-app', secret: 'ks-secret' },
  baidu: { platform: 'baidu', appid: '10001', appKey: 'bdKeyOne', secret: 'bd-sk' },
  alipay: {
    platform: 'alipay',
    appid: '2021000000000001',
    privateKey: pem(appKeys.privateKey, 'pkcs8'),
    alipayPublicKey: pem(alipayKeys.publicKey, 'spki'),
    aesKey: AES_KEY.toString('base64')
  }
} as const
type Other = keyof typeof APPS
const OTHERS = Object.keys(APPS) as Other[]
const AES128: Other[] = ['qq', 'douyin', 'kuaishou']

const PROFILE = { nickName: 'Xiao Ming', avatarUrl: 'https://example.com/a.png', gender: 1 }
const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

interface Session { token: string, sessionKey: string, platform: Other }

async function setup (t: Test): Promise<Built & { session: (platform: Other) => Promise<Session> }> {
  const built = await build(t, { env: { APPS: JSON.stringify(Object.values(APPS)) } })
  const { database, config, app } = built
  const users = new UserRepository(
    database, new SessionKeyVault(config.vaultKeys), new SessionRepository(database, config.jwt, new RefreshTokens(config.vaultKeys))
  )
  const session = async (platform: Other): Promise<Session> => {
    const sessionKey = platform === 'alipay' ? undefined : randomBytes(platform === 'baidu' ? 24 : 16).toString('base64')
    const { appid } = APPS[platform]
    const record = await users.recordFirstLogin({
      platform, appid, subject: `${platform}-${randomBytes(6).toString('hex')}`, subjectKind: platform === 'kuaishou' ? 'open_id' : 'openid', ...(sessionKey === undefined ? {} : { sessionKey })
    })
    return { token: app.signAccessToken({ sub: record.userId, sid: record.sessionId, appid }), sessionKey: sessionKey ?? '', platform }
  }
  return { ...built, session }
}

const watermark = (appid: string) => ({ watermark: { appid, timestamp: Math.floor(Date.now() / 1000) } })

/** Data as the session's platform seals it for `forApp` (its appid, or Baidu's app key). */
function seal ({ platform, sessionKey }: Session, payload: object, forApp?: string) {
  if (platform === 'baidu') return sealBaiduData(sessionKey, forApp ?? APPS.baidu.appKey, payload)
  return sealForUser(sessionKey, { ...payload, ...watermark(forApp ?? APPS[platform].appid) })
}

/** One bit of the last-but-one block flipped: the padding (or the JSON) of the plaintext breaks. */
function tamper ({ encryptedData, iv }: { encryptedData: string, iv: string }) {
  const bytes = Buffer.from(encryptedData, 'base64')
  bytes[bytes.length - 17]! ^= 0x01
  return { encryptedData: bytes.toString('base64'), iv }
}

/** Well padded, under the right key, and not JSON. */
const notJson = ({ platform, sessionKey }: Session) => platform === 'baidu'
  ? sealBaiduData(sessionKey, APPS.baidu.appKey, 'not json at all, yet padded well')
  : sealWithKey(sessionKey, Buffer.from('not json at all, yet padded well'))

const answer = (res: { statusCode: number, json: () => { code?: string, message?: string } }) =>
  ({ statusCode: res.statusCode, code: res.json().code, message: res.json().message })

t.test('decrypt: data sealed by QQ, Douyin, Kuaishou and Baidu opens with the session key, its profile stored', async (t) => {
  const { app, session } = await setup(t)
  for (const platform of ['qq', 'douyin', 'kuaishou', 'baidu'] as const) {
    const s = await session(platform)
    const res = await post(app, '/v1/auth/decrypt', s.token, seal(s, PROFILE))
    t.equal(res.statusCode, 200, platform)
    t.match(res.json().data, PROFILE, platform)
    t.match(await me(app, s.token), { platform, nickname: PROFILE.nickName, avatarUrl: PROFILE.avatarUrl }, `${platform}: profile stored`)
  }
})

t.test('attack: data sealed for another app is refused on every platform that binds it to one', async (t) => {
  const { app, session } = await setup(t)
  for (const platform of ['qq', 'douyin', 'kuaishou', 'baidu'] as const) {
    const s = await session(platform)
    const res = await post(app, '/v1/auth/decrypt', s.token, seal(s, PROFILE, platform === 'baidu' ? 'bdKeyTwo' : 'another-app'))
    // A watermark is read only in a whole JSON object (a 200's condition); Baidu's trailer is no such thing (see baidu-crypto.ts).
    t.match(res.json(), { statusCode: 400, code: platform === 'baidu' ? 'ENCRYPTED_DATA_INVALID' : 'WATERMARK_APPID_MISMATCH' }, platform)
    t.equal((await me(app, s.token)).nickname, null, `${platform}: nothing stored`)
  }
})

t.test('attack: tampered data, another key and another app key get one identical answer (no padding oracle)', async (t) => {
  const { app, session } = await setup(t)
  for (const platform of ['qq', 'douyin', 'kuaishou', 'baidu'] as const) {
    const s = await session(platform)
    const stranger = await session(platform)
    const answers = [
      answer(await post(app, '/v1/auth/decrypt', s.token, tamper(seal(s, PROFILE)))),
      answer(await post(app, '/v1/auth/decrypt', s.token, seal(stranger, PROFILE))),
      answer(await post(app, '/v1/auth/decrypt', s.token, notJson(s)))
    ]
    if (platform === 'baidu') answers.push(answer(await post(app, '/v1/auth/decrypt', s.token, seal(s, PROFILE, 'bdKeyTwo'))))
    t.match(answers[0], { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' }, platform)
    for (const other of answers.slice(1)) t.same(other, answers[0], `${platform}: the same answer`)
  }
})

t.test('phone: Douyin, Kuaishou and Baidu sealed data is answered, never stored; Alipay\'s signed payload is stored', async (t) => {
  const { app, session } = await setup(t)
  for (const platform of ['douyin', 'kuaishou'] as const) {
    const s = await session(platform)
    const res = await post(app, '/v1/auth/phone', s.token, seal(s, PHONE))
    t.same(res.json(), PHONE, platform)
    t.equal((await me(app, s.token)).phoneNumber, null, `${platform}: AES-CBC vouches for nothing, not stored`)
  }
  const baidu = await session('baidu')
  t.same((await post(app, '/v1/auth/phone', baidu.token, sealBaiduData(baidu.sessionKey, APPS.baidu.appKey, { mobile: '13800138000' }))).json(),
    { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' })
  t.equal((await me(app, baidu.token)).phoneNumber, null, 'baidu: not stored')

  const alipay = await session('alipay')
  const payload = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13900139000' }, AES_KEY, alipayKeys.privateKey)
  t.same((await post(app, '/v1/auth/phone', alipay.token, payload)).json(), { phoneNumber: '13900139000', purePhoneNumber: '13900139000', countryCode: '86' })
  t.equal((await me(app, alipay.token)).phoneNumber, '13900139000', 'alipay: signed by Alipay, stored')
})

t.test('attack: an Alipay phone payload not signed by Alipay is refused and stores nothing', async (t) => {
  const { app, session } = await setup(t)
  const alipay = await session('alipay')
  const forged = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13900139000' }, AES_KEY, rsa().privateKey)
  t.match((await post(app, '/v1/auth/phone', alipay.token, forged)).json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' })
  const refused = sealAlipayPhone({ code: '40006', msg: 'Insufficient Permissions', subCode: 'isv.insufficient-isv-permissions' }, AES_KEY, alipayKeys.privateKey)
  t.match((await post(app, '/v1/auth/phone', alipay.token, refused)).json(), { statusCode: 400, code: 'PHONE_CODE_INVALID' }, "Alipay's own refusal")
  t.equal((await me(app, alipay.token)).phoneNumber, null)
})

t.test('attack: every platform and every body shape on every data route is a 200 or a 4xx with its code, never a 500', async (t) => {
  const { app, session } = await setup(t)
  const sessions = Object.fromEntries(await Promise.all(OTHERS.map(async (p) => [p, await session(p)] as const))) as Record<Other, Session>
  const alipayPhone = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13900139000' }, AES_KEY, alipayKeys.privateKey)
  const bodies = (s: Session): Record<string, object> => {
    const sealed = s.platform === 'alipay' ? sealForUser(randomBytes(16).toString('base64'), PROFILE) : seal(s, s.platform === 'baidu' ? { mobile: '13800138000' } : { ...PROFILE, ...PHONE })
    return { code: { code: 'a-phone-code' }, sealed, alipay: alipayPhone, rawData: { rawData: JSON.stringify(PROFILE), signature: signRawData(JSON.stringify(PROFILE), s.sessionKey) } }
  }
  // What each platform answers: 200, or the code a client acts on.
  const expected: Record<Other, Record<string, Record<string, number | string>>> = {
    qq: { decrypt: { sealed: 200 }, verify: { rawData: 200 }, phone: { code: 'SCHEME_UNSUPPORTED', sealed: 'SCHEME_UNSUPPORTED', alipay: 'SCHEME_UNSUPPORTED' } },
    douyin: { decrypt: { sealed: 200 }, verify: { rawData: 200 }, phone: { code: 'SCHEME_UNSUPPORTED', sealed: 200, alipay: 'SCHEME_UNSUPPORTED' } },
    kuaishou: { decrypt: { sealed: 200 }, verify: { rawData: 200 }, phone: { code: 'SCHEME_UNSUPPORTED', sealed: 200, alipay: 'SCHEME_UNSUPPORTED' } },
    baidu: { decrypt: { sealed: 200 }, verify: { rawData: 'SCHEME_UNSUPPORTED' }, phone: { code: 'SCHEME_UNSUPPORTED', sealed: 200, alipay: 'SCHEME_UNSUPPORTED' } },
    alipay: { decrypt: { sealed: 'SESSION_KEY_ABSENT' }, verify: { rawData: 'SCHEME_UNSUPPORTED' }, phone: { code: 'SCHEME_UNSUPPORTED', sealed: 'SCHEME_UNSUPPORTED', alipay: 200 } }
  }
  for (const platform of OTHERS) {
    const s = sessions[platform]
    for (const route of ['decrypt', 'verify', 'phone']) {
      for (const [shape, body] of Object.entries(bodies(s))) {
        const res = await post(app, `/v1/auth/${route}`, s.token, body)
        const label = `${platform} ${route} ${shape}`
        t.ok(res.statusCode === 200 || (res.statusCode >= 400 && res.statusCode < 500 && typeof res.json().code === 'string'), `${label}: ${res.statusCode}`)
        const want = expected[platform][route]![shape]
        if (want === 200) t.equal(res.statusCode, 200, label)
        else if (want !== undefined) t.match(res.json(), { statusCode: 400, code: want }, label)
      }
    }
  }
  t.match((await post(app, '/v1/auth/phone', sessions.qq.token, { code: 'x' })).json().message, /^QQ has no phone number API/, 'the message names the platform')
})

t.test('decrypt on QQ, Douyin and Kuaishou: DECRYPT_MAX_AGE_SECONDS refuses old data as on WeChat', async (t) => {
  const built = await build(t, { env: { APPS: JSON.stringify(Object.values(APPS)), DECRYPT_MAX_AGE_SECONDS: '60' } })
  const users = new UserRepository(built.database, new SessionKeyVault(built.config.vaultKeys),
    new SessionRepository(built.database, built.config.jwt, new RefreshTokens(built.config.vaultKeys)))
  for (const platform of AES128 as Platform[]) {
    const sessionKey = randomBytes(16).toString('base64')
    const { appid } = APPS[platform as Other]
    const record = await users.recordFirstLogin({ platform, appid, subject: `${platform}-old`, subjectKind: 'openid', sessionKey })
    const token = built.app.signAccessToken({ sub: record.userId, sid: record.sessionId, appid })
    const old = sealForUser(sessionKey, { ...PROFILE, watermark: { appid, timestamp: Math.floor(Date.now() / 1000) - 120 } })
    t.match((await post(built.app, '/v1/auth/decrypt', token, old)).json(), { statusCode: 400, code: 'WATERMARK_EXPIRED' }, platform)
  }
})

t.test('attack: a session whose identity is not of its app\'s platform (appid moved or removed) never reaches the WeChat key path', async (t) => {
  const built = await build(t, { env: { APPS: JSON.stringify(Object.values(APPS)) } })
  const users = new UserRepository(built.database, new SessionKeyVault(built.config.vaultKeys),
    new SessionRepository(built.database, built.config.jwt, new RefreshTokens(built.config.vaultKeys)))
  // A QQ identity under the WeChat app's appid (the appid was QQ's before the configuration moved it),
  // and one under an appid no longer configured.
  for (const appid of [APP.appid, 'qq-app-removed']) {
    const sessionKey = randomBytes(16).toString('base64')
    const record = await users.recordFirstLogin({ platform: 'qq', appid, subject: `qq-${appid}`, subjectKind: 'openid', sessionKey })
    const token = built.app.signAccessToken({ sub: record.userId, sid: record.sessionId, appid })
    const rawData = JSON.stringify(PROFILE)
    const verify = await post(built.app, '/v1/auth/verify', token, { rawData, signature: signRawData(rawData, sessionKey) })
    t.match(verify.json(), { statusCode: 400, code: 'APP_UNKNOWN' }, `${appid}: verify refuses the other platform's key`)
    const decrypt = await post(built.app, '/v1/auth/decrypt', token, sealForUser(sessionKey, { ...PROFILE, ...watermark(appid) }))
    t.match(decrypt.json(), { statusCode: 400, code: 'APP_UNKNOWN' }, `${appid}: decrypt refuses the other platform's key`)
    const tampered = await post(built.app, '/v1/auth/decrypt', token, tamper(sealForUser(sessionKey, { ...PROFILE, ...watermark(appid) })))
    t.match(tampered.json(), { statusCode: 400, code: 'APP_UNKNOWN' }, `${appid}: undecryptable data alike`)
    t.equal((await me(built.app, token)).nickname, null, `${appid}: nothing stored`)
    t.equal(built.fake.callCount('/wxa/checksession'), 0, `${appid}: WeChat never asked about a QQ identity's key`)
  }
})

t.test('attack: an Alipay phone payload belongs to the first user who sends it: replayed into another user\'s session it stores nothing', async (t) => {
  const { app, session } = await setup(t)
  const victim = await session('alipay')
  const attacker = await session('alipay')
  // my.getPhoneNumber's payload names no user: Alipay's signature vouches for the number, not for whoever relays it.
  const payload = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13900139000' }, AES_KEY, alipayKeys.privateKey)
  t.equal((await post(app, '/v1/auth/phone', victim.token, payload)).statusCode, 200)
  t.match((await post(app, '/v1/auth/phone', attacker.token, payload)).json(), { statusCode: 400, code: 'PHONE_CODE_INVALID' }, 'replayed by another user')
  t.equal((await me(app, attacker.token)).phoneNumber, null, "the victim's number is not the attacker's")
  // Alipay's zero IV makes one number's payload the same text every time: its own user may send it again.
  t.equal((await post(app, '/v1/auth/phone', victim.token, payload)).statusCode, 200, 'sent again by its own user')
  t.equal((await me(app, victim.token)).phoneNumber, '13900139000', 'the first use stands')
  const forged = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13700137000' }, AES_KEY, rsa().privateKey)
  t.match((await post(app, '/v1/auth/phone', attacker.token, forged)).json(), { code: 'ENCRYPTED_DATA_INVALID' }, 'a forged payload spends nothing')
})
