import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

const PHONE = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

t.test('attack: a revoked session cannot store a phone number', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(alice.accessToken) })
  const res = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
  t.match(res.json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  const [user] = await prisma.$queryRaw<{ phone_number: string | null }[]>`SELECT phone_number FROM users`
  t.equal(user!.phone_number, null)
  t.equal(fake.callCount('/wxa/business/getuserphonenumber'), 0, 'WeChat never asked')
})

t.test("attack: a revoked session's access token cannot end the user's new sessions", async (t) => {
  const { app, fake } = await build(t)
  const old = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(old.accessToken) })
  const fresh = await login(app, fake, 'alice')
  t.match((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(old.accessToken) })).json(), { statusCode: 401, code: 'SESSION_REVOKED' })
  t.equal((await refresh(app, fresh.refreshToken)).statusCode, 200, 'the new session lives on')
})
