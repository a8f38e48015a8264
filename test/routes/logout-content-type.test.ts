import t from 'tap'
import { build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

t.test('honest client: a bodiless logout sent with Content-Type: application/json (as wx.request does) logs out', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const res = await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: { ...bearer(alice.accessToken), 'content-type': 'application/json' } })
  // Failed on cd7c1d9: 400 FST_ERR_CTP_EMPTY_JSON_BODY, and the refresh token still worked.
  t.equal(res.statusCode, 204)
  t.match((await refresh(app, alice.refreshToken)).json(), { code: 'SESSION_REVOKED' }, 'the session ended')
  const noBody = await app.inject({ method: 'POST', url: '/v1/auth/login', headers: { 'content-type': 'application/json' } })
  t.match(noBody.json(), { statusCode: 400, code: 'FST_ERR_VALIDATION' }, 'a route that needs a body still says so')
})
