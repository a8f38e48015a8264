import t from 'tap'
import { authError, client, clocked, device, serve, setBan, stored } from '../helpers/client.js'

t.test("getAccessToken() gives the app's own request layer a token that works: it logs in or refreshes first", async (t) => {
  const { served, clock, wx, auth } = await clocked(t)
  const first = await auth.getAccessToken()
  const saved = stored(wx)
  t.equal(first, saved !== '' && saved.accessToken, 'logged in')
  t.equal(await auth.getAccessToken(), first, 'the same while it is fresh')
  clock.advance(15 * 60)
  const second = await auth.getAccessToken()
  t.not(second, first)
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  const me = await fetch(`${served.url}/v1/me`, { headers: { authorization: `Bearer ${second}` } })
  t.equal(me.status, 200)
})

t.test('onChange() hears sign-in, sign-out and a ban; its unsubscribe stops it; a throwing listener breaks nothing', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  const events: unknown[] = []
  auth.onChange(() => { throw new Error('a broken listener') })
  const stop = auth.onChange((event) => events.push(event))
  const { userId } = await auth.login()
  await auth.logout()
  await auth.login()
  await setBan(served, userId, true)
  await t.rejects(auth.request({ url: '/v1/me' }), authError('USER_DISABLED', 403))
  t.match(events, [
    { type: 'signIn', userId, isNew: true },
    { type: 'signOut' },
    { type: 'signIn', userId, isNew: false },
    { type: 'signOut' },
    { type: 'disabled', retryAfter: 60 }
  ])
  t.equal(events.length, 5)
  stop()
  await setBan(served, userId, false)
  await auth.logout()
  t.equal(events.length, 5)
})
