import { createServer, type Socket } from 'node:net'
import t from 'tap'
import { startAppApi } from '../helpers/app-api.js'
import { authError, client, device, HUNG, serve, within } from '../helpers/client.js'

t.test("attack: the Bearer token goes only to baseUrl's origin and apiOrigins, never to a look-alike host", async (t) => {
  const served = await serve(t)
  const listed = await startAppApi(t, served.url)
  const unlisted = await startAppApi(t, served.url)
  const wx = device(served)
  const auth = client(served, wx, { apiOrigins: [`${listed.url}/`] })
  const port = new URL(served.url).port
  const lookAlikes = [
    `${served.url}.evil.example/v1/me`,
    `http://127.0.0.1:${port}@evil.example/v1/me`,
    `http://127.0.0.1:${port}\\@evil.example/v1/me`,
    `http://localhost:${port}/v1/me`,
    `https://127.0.0.1:${port}/v1/me`,
    'https://evil.example/collect'
  ]
  const sentTo = new Map<string, string | undefined>()
  // Anything that is not the service or the listed API is answered here, never sent.
  wx.standIn = ({ url, header }) => {
    if (url.startsWith(`${served.url}/`) || url.startsWith(`${listed.url}/`) || url.startsWith(`${unlisted.url}/`)) return undefined
    sentTo.set(url, header.Authorization)
    return { statusCode: 200, body: '{}' }
  }
  for (const url of lookAlikes) t.equal((await auth.request({ url })).statusCode, 200, url)
  t.equal(sentTo.size, lookAlikes.length)
  t.same([...sentTo.values()], Array(lookAlikes.length).fill(undefined), 'no token to any look-alike')
  t.equal(wx.calls.login, 0, 'and no login for them')

  t.equal((await auth.request({ url: `${unlisted.url}/orders` })).statusCode, 401, 'an API not listed gets no token, and its 401 is its own')
  t.same(unlisted.authorizations, [''])
  t.equal(wx.calls.login, 0)
  t.equal((await auth.request({ url: `${listed.url}/orders` })).statusCode, 200, 'a listed API gets it')
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200, 'and the service')
  t.match(listed.authorizations, [/^Bearer /])
})

t.test('attack: wx.request options the client has no use for (timeout, dataType, responseType, enableHttp2) reach wx.request', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const auth = client(served, wx)
  const seen: Record<string, unknown>[] = []
  const request = wx.request.bind(wx)
  wx.request = (options) => {
    if (options.url.endsWith('/v1/me')) seen.push({ ...options })
    request(options)
  }
  const text = await auth.request({ url: '/v1/me', timeout: 5000, dataType: '其他', responseType: 'text', enableHttp2: true, enableCache: true })
  t.match(seen[0], { timeout: 5000, dataType: '其他', responseType: 'text', enableHttp2: true, enableCache: true })
  t.type(text.data, 'string', "dataType other than 'json': the text")
  t.match(JSON.parse(text.data as string), { openid: String })
  const binary = await auth.request({ url: '/v1/me', responseType: 'arraybuffer' })
  t.type(binary.data, ArrayBuffer)
})

t.test('attack: a request timeout reaches wx.request: an API that never answers rejects NETWORK_ERROR instead of waiting', async (t) => {
  const served = await serve(t)
  const sockets: Socket[] = []
  const silent = createServer((socket) => { sockets.push(socket) })
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const socket of sockets) socket.destroy(); silent.close() })
  const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`
  const auth = client(served, device(served), { apiOrigins: [url] })
  const result = await within(auth.request({ url: `${url}/orders`, timeout: 300 }).catch((e: unknown) => e))
  t.not(result, HUNG)
  t.match(result, { ...authError('NETWORK_ERROR'), message: 'request:fail timeout' })
})

t.test('attack: an app header "authorization" in another case does not ride along with the client\'s Bearer token to a listed API', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const api = 'https://api.example.test'
  const auth = client(served, wx, { apiOrigins: [api] })
  const seen: Record<string, string>[] = []
  wx.standIn = ({ url, header }) => {
    if (!url.startsWith(api)) return undefined
    seen.push(header)
    const values = Object.keys(header).filter((name) => name.toLowerCase() === 'authorization').map((name) => header[name])
    return values.length === 1 && /^Bearer ey/.test(values[0]!) ? { statusCode: 200, body: '{}' } : { statusCode: 401, body: '{"code":"ACCESS_TOKEN_INVALID"}' }
  }
  await auth.login()
  for (const name of ['authorization', 'AUTHORIZATION']) {
    t.equal(await auth.request({ url: `${api}/orders`, header: { [name]: 'Bearer stale', 'x-trace': '1' } }).then((res) => res.statusCode, (e: { code: string }) => e.code), 200, name)
  }
  t.equal(wx.calls.login, 1, 'no re-login')
  t.match(seen, [{ 'x-trace': '1', Authorization: /^Bearer ey/ }, { 'x-trace': '1' }])
})
