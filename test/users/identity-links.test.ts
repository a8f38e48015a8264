import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, refresh, rowCounts } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// AES-128-CBC has no MAC: a client that holds one ciphertext of a plaintext it
// knows (its own profile) can rewrite the IV and splice blocks until the server
// "decrypts" JSON of its choosing. Sealing the chosen plaintext with the
// attacker's own session_key produces exactly what the server then sees.

const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002', bound: false }
const apps = [APP, SECOND]
const env = { WECHAT_APPS: JSON.stringify([APP, SECOND]) }
const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

t.test('attack: a unionId in decrypted data cannot take over the account that owns it', async (t) => {
  const { app, fake, prisma } = await build(t, { apps, env })
  const vera = await login(app, fake, 'vera', APP.appid)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(vera.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })).statusCode, 200)

  const mallory = await login(app, fake, 'mallory', SECOND.appid)
  const forged = sealWithKey(fake.sessionKey(SECOND.appid, 'mallory')!, {
    openId: fake.openid(SECOND.appid, 'mallory'),
    nickName: 'mallory',
    unionId: fake.unionid('vera'),
    watermark: { appid: SECOND.appid, timestamp: Math.floor(Date.now() / 1000) }
  })
  await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(mallory.accessToken), payload: forged })

  const next = await refresh(app, mallory.refreshToken)
  t.equal(next.statusCode, 200)
  t.equal(app.jwt.decode<{ sub: string }>(next.json().accessToken)!.sub, mallory.user.id, 'the session still belongs to the attacker')
  const me = (await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(next.json().accessToken) })).json()
  t.equal(me.id, mallory.user.id)
  t.equal(me.phoneNumber, null, "the victim's phone number is not shown")
  t.match(await rowCounts(prisma), { users: 2 }, 'no merge')
  const [victim] = await prisma.$queryRaw<{ identities: number }[]>`SELECT count(*)::int AS identities FROM identities WHERE user_id = ${vera.user.id}::uuid`
  t.equal(victim!.identities, 1, "no identity joined the victim's user")
})

t.test('attack: a unionId claimed before its owner ever logged in does not capture the first login', async (t) => {
  const { app, fake, prisma } = await build(t, { apps, env })
  const mallory = await login(app, fake, 'mallory', SECOND.appid)
  const forged = sealWithKey(fake.sessionKey(SECOND.appid, 'mallory')!, {
    nickName: 'mallory', unionId: fake.unionid('olivia'), watermark: { appid: SECOND.appid, timestamp: Math.floor(Date.now() / 1000) }
  })
  await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(mallory.accessToken), payload: forged })
  const [stored] = await prisma.$queryRaw<{ unionids: number }[]>`SELECT count(unionid)::int AS unionids FROM users`
  t.equal(stored!.unionids, 0, 'a relayed unionId is never stored as a link')

  const olivia = await login(app, fake, 'olivia', APP.appid)
  t.equal(olivia.user.isNew, true, "the owner's first login creates the owner's user")
  t.not(olivia.user.id, mallory.user.id)
})

t.test('the link that remains: a unionid returned by jscode2session joins the identity to its user', async (t) => {
  const { app, fake, prisma } = await build(t, { apps, env })
  const main = await login(app, fake, 'frank', APP.appid)
  const before = await login(app, fake, 'frank', SECOND.appid)
  t.not(before.user.id, main.user.id, 'the unbound app gives no unionid: a separate user for now')
  fake.bind(SECOND.appid)
  const after = await login(app, fake, 'frank', SECOND.appid)
  t.same(after.user, { id: main.user.id, isNew: false }, 'WeChat vouched for the unionid: one person, one user')
  t.match(await rowCounts(prisma), { users: 1, identities: 2 })
  const moved = await refresh(app, before.refreshToken)
  t.equal(app.jwt.decode<{ sub: string }>(moved.json().accessToken)!.sub, main.user.id, 'the earlier session follows its identity')
})
