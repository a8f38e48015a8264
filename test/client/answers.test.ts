import t from 'tap'
import type { StandInAnswer } from '../../src/dev/runtime-simulator.js'
import { authError, client, clocked, device, serve, stored } from '../helpers/client.js'

// A 2xx is not proof that the service answered: a captive portal, a gateway
// or a CDN error page can answer 200. What login and refresh answer is checked
// before anything is kept.

const html: StandInAnswer = { statusCode: 200, body: '<!doctype html><title>Sign in to the Wi-Fi</title>', header: { 'content-type': 'text/html' } }
const envelope: StandInAnswer = { statusCode: 200, body: JSON.stringify({ code: 0, msg: 'success', data: null }), header: { 'content-type': 'application/json' } }

t.test('attack: a 200 from login that is no token answer (an HTML page, a gateway envelope) is BAD_RESPONSE and stores nothing', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  for (const [name, answer] of [['html', html], ['envelope', envelope]] as const) {
    wx.standIn = ({ url }) => url.endsWith('/v1/auth/login') ? answer : undefined
    await t.rejects(auth.request({ url: '/v1/me' }), authError('BAD_RESPONSE', 200), `${name}: request`)
    await t.rejects(auth.login(), authError('BAD_RESPONSE', 200), `${name}: login()`)
    t.equal(auth.isLoggedIn(), false, `${name}: not signed in`)
    t.equal(stored(wx), '', `${name}: nothing stored`)
  }
  wx.standIn = undefined
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'the next request logs in')
  t.equal(served.hits('GET /v1/me'), 1, 'no request went out with a made-up token')
})

t.test('attack: a 200 from refresh that is no token answer is BAD_RESPONSE, and the stored pair is kept for the next try', async (t) => {
  const { served, clock, wx, auth } = await clocked(t)
  await auth.login()
  const before = stored(wx)
  clock.advance(15 * 60)
  for (const answer of [html, envelope]) {
    wx.standIn = ({ url }) => url.endsWith('/v1/auth/refresh') ? answer : undefined
    await t.rejects(auth.request({ url: '/v1/me' }), authError('BAD_RESPONSE', 200))
    t.same(stored(wx), before, 'the pair in storage untouched')
    t.equal(auth.isLoggedIn(), true)
  }
  wx.standIn = undefined
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200)
  t.equal(served.hits('POST /v1/auth/refresh'), 1, 'refreshed with the kept pair')
  t.equal(wx.calls.login, 1, 'no login needed')
})

t.test('attack: a refresh refused as malformed (400) means one login, not a client that fails for ever', async (t) => {
  const { clock, wx, auth } = await clocked(t)
  await auth.login()
  clock.advance(15 * 60)
  wx.standIn = ({ url }) => url.endsWith('/v1/auth/refresh')
    ? { statusCode: 400, body: JSON.stringify({ statusCode: 400, code: 'FST_ERR_VALIDATION', message: 'body/refreshToken must NOT have more than 256 characters' }) }
    : undefined
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200)
  t.equal(wx.calls.login, 2, 'one login')
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200)
  t.equal(wx.calls.login, 2, 'and only one')
})
