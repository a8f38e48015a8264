import t, { type Test } from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

const SECOND = { appid: 'wxtest0000000002', secret: 'test-secret-0002', bound: false }

/** Two sessions of frank's on an unbound app; then the app is bound and his identity joins his other user. */
async function merged (t: Test) {
  const built = await build(t, { apps: [APP, SECOND], env: { WECHAT_APPS: JSON.stringify([APP, SECOND]) } })
  const main = await login(built.app, built.fake, 'frank', APP.appid)
  const early = await login(built.app, built.fake, 'frank', SECOND.appid)
  const early2 = await login(built.app, built.fake, 'frank', SECOND.appid)
  built.fake.bind(SECOND.appid)
  const joined = await login(built.app, built.fake, 'frank', SECOND.appid)
  if (joined.user.id !== main.user.id || early.user.id === main.user.id) throw new Error('setup: the identities did not merge')
  return { ...built, main, early, early2, joined }
}

t.test('attack: logout with a token issued before a unionid move ends the session', async (t) => {
  const { app, early, main } = await merged(t)
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(early.accessToken) })
  t.equal(me.statusCode, 200, 'the session is found by its id, whoever owns it now')
  t.equal(me.json().id, main.user.id)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(early.accessToken) })).statusCode, 204)
  t.match((await refresh(app, early.refreshToken)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'its refresh token is dead')
})

t.test('attack: logout-all with a token issued before a unionid move ends every session of the person', async (t) => {
  const { app, early2, main, joined } = await merged(t)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(early2.accessToken) })).statusCode, 204)
  for (const session of [early2, main, joined]) t.match((await refresh(app, session.refreshToken)).json(), { code: 'SESSION_REVOKED' })
})

t.test('attack: a logout that ends nothing does not report success', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(alice.accessToken) })).statusCode, 204)
  t.match((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(alice.accessToken) })).json(), { statusCode: 401, code: 'SESSION_REVOKED' })
})
