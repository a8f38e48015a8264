import t from 'tap'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { decryptData, rawDataSignatureMatches, sessionKeySignature } from '../../src/wechat/data-crypto.js'
import { VAULT_KEYS, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// Independent vectors. The fake WeChat (src/dev/fake-wechat-data.ts) and our
// code could share a wrong assumption, which no test between the two can catch.
// These inputs and outputs are WeChat's own, copied from its documentation and
// its official sample; they run against our real code. Sources:
//  - DEMO: the WXBizDataCrypt sample WeChat ships with "开放数据校验与解密"
//    (developers.weixin.qq.com/miniprogram/dev/framework/open-ability/signature.html,
//    the sample download), appid wx4f4bc4dec97d474b; the sample's comment gives the plaintext.
//  - RAW_DATA: the same page, "数据签名校验", the wx.getUserInfo example:
//    sha1(rawData + session_key) = 75e81ceda165f4ffa64f4068af58c64b8f54b88c.
//  - LOGIN_STATE: "用户登录态签名" (developers.weixin.qq.com/minigame/dev/tutorial/open-ability/session-signature.html):
//    hmac_sha256('{"foo":"bar"}', 'o0q0otL8aEzpcZL/FT9WsQ==') = 654571f7...aa0b. wxa/checksession
//    signs the empty string the same way (signature = hmac_sha256(session_key, "")); its own
//    example signature (fefce01b...2509) comes without the session_key that made it, so the
//    empty-string case has no official vector (docs/api.md, "User data").

const DEMO = {
  appid: 'wx4f4bc4dec97d474b',
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA==',
  encryptedData: 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==',
  plaintext: {
    openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE',
    nickName: 'Band',
    gender: 1,
    language: 'zh_CN',
    city: 'Guangzhou',
    province: 'Guangdong',
    country: 'CN',
    avatarUrl: 'http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0',
    unionId: 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA',
    watermark: { timestamp: 1477314187, appid: 'wx4f4bc4dec97d474b' }
  }
}

const RAW_DATA = {
  rawData: '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}',
  sessionKey: 'HyVFkGl5F5OQWJZZaNzBBg==',
  signature: '75e81ceda165f4ffa64f4068af58c64b8f54b88c'
}

const LOGIN_STATE = {
  body: '{"foo":"bar"}',
  sessionKey: 'o0q0otL8aEzpcZL/FT9WsQ==',
  signature: '654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b'
}

t.test('encryptedData: the official sample decrypts to the plaintext its documentation gives', async (t) => {
  t.same(decryptData(DEMO.sessionKey, DEMO.encryptedData, DEMO.iv), DEMO.plaintext)
})

t.test('rawData signature: the documented example matches, and nothing next to it does', async (t) => {
  t.ok(rawDataSignatureMatches(RAW_DATA.rawData, RAW_DATA.sessionKey, RAW_DATA.signature))
  t.notOk(rawDataSignatureMatches(RAW_DATA.rawData.replace('Band', 'Bend'), RAW_DATA.sessionKey, RAW_DATA.signature), 'another rawData')
  t.notOk(rawDataSignatureMatches(RAW_DATA.rawData, DEMO.sessionKey, RAW_DATA.signature), 'another session_key')
})

t.test('login-state signature: the documented HMAC-SHA256 example, keyed with the session_key string', async (t) => {
  t.equal(sessionKeySignature(LOGIN_STATE.sessionKey, LOGIN_STATE.body), LOGIN_STATE.signature)
  t.equal(sessionKeySignature(LOGIN_STATE.sessionKey), sessionKeySignature(LOGIN_STATE.sessionKey, ''), 'checksession signs the empty body the same way')
})

t.test('the routes: decrypt opens the official sample and verify accepts the documented signature, with those session_keys stored', async (t) => {
  const app = { appid: DEMO.appid, secret: 'demo-secret-0001' }
  const { app: service, fake, prisma } = await build(t, { apps: [app], env: { WECHAT_APPID: app.appid, WECHAT_SECRET: app.secret } })
  const user = await login(service, fake, 'band', app.appid)
  const vault = new SessionKeyVault(parseVaultKeys(VAULT_KEYS))
  const store = async (sessionKey: string) => {
    const [row] = await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM identities`
    await prisma.$executeRaw`UPDATE identities SET session_key_enc = ${vault.encrypt(sessionKey, row!.id)}, previous_session_key_enc = NULL WHERE id = ${row!.id}::uuid`
  }

  await store(DEMO.sessionKey)
  const decrypted = await service.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(user.accessToken), payload: { encryptedData: DEMO.encryptedData, iv: DEMO.iv } })
  t.equal(decrypted.statusCode, 200)
  t.same(decrypted.json().data, DEMO.plaintext)

  await store(RAW_DATA.sessionKey)
  const verified = await service.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(user.accessToken), payload: { rawData: RAW_DATA.rawData, signature: RAW_DATA.signature } })
  t.equal(verified.statusCode, 200)
  t.same(verified.json().data, JSON.parse(RAW_DATA.rawData))
  t.equal(fake.callCount('/wxa/checksession'), 0, 'opened by the stored key, no WeChat call')
})
