import t, { type Test } from 'tap'
import { startAppApi } from '../helpers/app-api.js'
import { authError, client, device, serve, stored } from '../helpers/client.js'

const parallel = <T>(n: number, call: () => Promise<T>): Promise<T[]> => Promise.all(Array.from({ length: n }, call))

/** Alice signed in, and the app's API beside the service; expireToken() makes the API call her current token expired. */
async function signedIn (t: Test, env: Record<string, string> = {}) {
  const served = await serve(t, { env })
  const api = await startAppApi(t, served.url)
  const wx = device(served)
  const auth = client(served, wx, { apiOrigins: [api.url] })
  await auth.login()
  const expireToken = (): void => {
    const saved = stored(wx)
    api.expire.add(served.app.jwt.decode<{ jti: string }>(saved !== '' ? saved.accessToken : '')!.jti)
  }
  return { served, api, wx, auth, expireToken }
}

t.test("the app's own API (in apiOrigins) gets the Bearer token on an absolute URL and any status resolves, as wx.request's would", async (t) => {
  const served = await serve(t)
  const api = await startAppApi(t, served.url)
  const wx = device(served)
  const auth = client(served, wx, { apiOrigins: [api.url] })
  const orders = await auth.request<{ userId: string }>({ url: `${api.url}/orders` })
  t.equal(orders.statusCode, 200)
  t.same(orders.data, { userId: (await auth.login()).userId }, 'verified by the JWKS: the same user')
  t.equal(served.hits('POST /v1/auth/login'), 2)
  t.equal((await auth.request({ url: `${api.url}/teapot`, method: 'POST', data: { tea: 'green' } })).statusCode, 418)
  const busy = await auth.request({ url: `${api.url}/busy` })
  t.match(busy, { statusCode: 503, header: { 'retry-after': '7' } }, 'a 503 of the app API is the app\'s to handle')
  t.equal(api.hits('/busy'), 1, 'and is not retried')
  t.ok(api.authorizations.every((h) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(h)))
})

t.test('the app API answering 401 ACCESS_TOKEN_EXPIRED to N concurrent requests: one refresh, each replayed once', async (t) => {
  const { served, api, wx, auth, expireToken } = await signedIn(t, { REFRESH_REUSE_GRACE: '0' })
  expireToken()
  const results = await parallel(8, () => auth.request({ url: `${api.url}/orders` }))
  t.same(results.map((r) => r.statusCode), Array(8).fill(200))
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(api.hits('/orders'), 16)
  t.equal(wx.calls.login, 1)
})

t.test('a 401 that one fresh login cannot cure rejects: one re-login, one replay, no loop', async (t) => {
  const { served, api, wx, auth } = await signedIn(t)
  await t.rejects(auth.request({ url: `${api.url}/forbidden` }), { ...authError('NOT_A_MEMBER', 401), message: 'not a member of this club' })
  t.equal(api.hits('/forbidden'), 2)
  t.equal(wx.calls.login, 2)

  const results = await Promise.allSettled(Array.from({ length: 5 }, () => auth.request({ url: `${api.url}/forbidden` })))
  t.ok(results.every((r) => r.status === 'rejected'))
  t.equal(api.hits('/forbidden'), 2 + 10, 'each request sent twice')
  t.equal(wx.calls.login, 3, 'one re-login shared by the five')
  t.equal(served.hits('POST /v1/auth/login'), 3)
})

t.test('an expired token, a refused refresh, then a 401 the login does not cure: one refresh, one login, then the rejection', async (t) => {
  const { served, api, wx, auth, expireToken } = await signedIn(t)
  expireToken()
  const elsewhere = client(served, device(served))
  await elsewhere.login()
  await elsewhere.logoutAll()
  await t.rejects(auth.request({ url: `${api.url}/forbidden` }), authError('NOT_A_MEMBER', 401))
  t.equal(served.hits('POST /v1/auth/refresh'), 1)
  t.equal(wx.calls.login, 2, 'the login after the refused refresh was the one re-login')
  t.equal(api.hits('/forbidden'), 2)
})

t.test("the service's own 5xx and 429 reject with code, status and Retry-After; its other statuses resolve", async (t) => {
  const served = await serve(t, { env: { RATE_LIMIT_USER_MAX: '2' } })
  const auth = client(served, device(served))
  const invalid = await auth.request<{ code: string }>({ url: '/v1/auth/phone', method: 'POST', data: { code: 'not-a-phone-code' } })
  t.match(invalid, { statusCode: 400, data: { code: 'PHONE_CODE_INVALID' } })
  served.fake.setFault({ status: 502 })
  await t.rejects(auth.request({ url: 'v1/auth/phone', method: 'POST', data: { code: 'abc' } }), authError('WECHAT_UNAVAILABLE', 502))
  served.fake.setFault(undefined)
  const limited = await auth.request({ url: `${served.url}/v1/auth/phone`, method: 'POST', data: { code: 'abc' } }).catch((e: unknown) => e)
  t.match(limited, { ...authError('RATE_LIMITED', 429), retryAfter: Number })
  t.equal(served.hits('POST /v1/auth/phone'), 3, 'no retries')
})
