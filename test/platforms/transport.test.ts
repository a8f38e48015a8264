import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { MAX_ANSWER_BYTES, Transport, TransportOverloaded, TransportTimeout, TransportUnavailable, jsonObject, type TransportOptions } from '../../src/platforms/transport.js'

interface Seen { method: string, url: string, type: string | undefined, body: string }
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

async function origin (t: Test, handler: Handler): Promise<{ url: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString('utf8') })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', type: req.headers['content-type'], body })
      handler(req, res, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

function transport (t: Test, options: Partial<TransportOptions> = {}): { transport: Transport, observed: string[] } {
  const observed: string[] = []
  const transport = new Transport({ timeoutMs: 400, busyBackoffMs: 5, observe: (api, outcome) => observed.push(`${api} ${outcome}`), ...options })
  t.teardown(() => transport.close())
  return { transport, observed }
}

const ok: Handler = (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok": true,  "n":1}') }

t.test('GET query, POST JSON and POST form reach the platform as sent; the answer comes back byte for byte', async (t) => {
  const { url, seen } = await origin(t, ok)
  const { transport: http, observed } = transport(t)
  const answer = await http.request({ api: 'a', origin: url, method: 'GET', path: '/sns/x', query: { appid: 'wx1', secret: 's&=?' } })
  t.same(answer, { status: 200, text: '{"ok": true,  "n":1}' }, 'raw text, spacing kept (Alipay signs these bytes)')
  await http.request({ api: 'b', origin: url, method: 'POST', path: '/v2/y', json: { code: 'c1', secret: 's' } })
  await http.request({ api: 'c', origin: url, method: 'POST', path: '/oauth2/z', form: { app_id: 'k1', js_code: 'c+2 &' }, headers: { 'access-token': 'tok' } })
  t.equal(seen[0]?.method, 'GET')
  t.same(Object.fromEntries(new URL(seen[0]!.url, url).searchParams), { appid: 'wx1', secret: 's&=?' })
  t.same({ type: seen[1]?.type, body: JSON.parse(seen[1]!.body) }, { type: 'application/json', body: { code: 'c1', secret: 's' } })
  t.equal(seen[2]?.type, 'application/x-www-form-urlencoded')
  t.same(Object.fromEntries(new URLSearchParams(seen[2]!.body)), { app_id: 'k1', js_code: 'c+2 &' })
  t.same(observed, ['a ok', 'b ok', 'c ok'])
})

t.test('one transport serves several origins (Douyin has several hosts), a pool each', async (t) => {
  const one = await origin(t, ok)
  const two = await origin(t, (_req, res) => { res.writeHead(200).end('two') })
  const { transport: http } = transport(t)
  t.equal((await http.request({ api: 'a', origin: one.url, method: 'GET', path: '/' })).text, '{"ok": true,  "n":1}')
  t.equal((await http.request({ api: 'a', origin: two.url, method: 'GET', path: '/' })).text, 'two')
})

t.test('a status is handed to the reader; jsonObject refuses non-200, non-JSON and non-objects', async (t) => {
  const bodies: Record<string, [number, string]> = { '/gw': [502, '<html>Bad Gateway</html>'], '/trunc': [200, '{"openid": "tr'], '/array': [200, '[1]'], '/null': [200, 'null'] }
  const { url } = await origin(t, (req, res) => { const [status, text] = bodies[req.url!]!; res.writeHead(status).end(text) })
  const { transport: http, observed } = transport(t)
  t.equal((await http.request({ api: 'gw', origin: url, method: 'GET', path: '/gw' })).status, 502)
  for (const path of Object.keys(bodies)) {
    await t.rejects(http.call({ api: 'read', origin: url, method: 'GET', path }, jsonObject), TransportUnavailable, path)
  }
  t.same(observed.slice(1), Array(4).fill('read unavailable'))
})

t.test('faults: slowness is a timeout at the deadline, a reset or refused connection is unavailable', async (t) => {
  const { url } = await origin(t, (req, res) => {
    if (req.url === '/slow') setTimeout(() => ok(req, res, ''), 1500)
    else res.socket?.destroy()
  })
  const { transport: http, observed } = transport(t)
  const started = Date.now()
  await t.rejects(http.request({ api: 'slow', origin: url, method: 'GET', path: '/slow' }), TransportTimeout)
  t.ok(Date.now() - started < 1000, 'gave up at the deadline')
  await t.rejects(http.request({ api: 'reset', origin: url, method: 'GET', path: '/reset' }), TransportUnavailable)
  await t.rejects(http.request({ api: 'refused', origin: 'http://127.0.0.1:1', method: 'GET', path: '/' }), TransportUnavailable)
  t.same(observed, ['slow timeout', 'reset unavailable', 'refused unavailable'])
  t.equal(http.slots.pending, 0, 'no slot held after failures')
})

t.test('a slow body is a timeout too, and an endless one is cut at MAX_ANSWER_BYTES', async (t) => {
  const { url } = await origin(t, (req, res) => {
    res.writeHead(200)
    if (req.url === '/drip') { res.write('{'); return }
    const chunk = Buffer.alloc(64 * 1024, 0x20)
    for (let sent = 0; sent <= MAX_ANSWER_BYTES; sent += chunk.length) res.write(chunk)
    res.end('{}')
  })
  const { transport: http } = transport(t)
  await t.rejects(http.request({ api: 'drip', origin: url, method: 'GET', path: '/drip' }), TransportTimeout)
  await t.rejects(http.request({ api: 'big', origin: url, method: 'GET', path: '/big' }), { name: 'TransportUnavailable', reason: 'answer too large' })
})

t.test('busy answers are retried while the predicate says so, within the deadline; others are not', async (t) => {
  let calls = 0
  const { url } = await origin(t, (_req, res) => { calls++; res.writeHead(200).end(calls < 3 ? 'busy' : 'done') })
  const read = (answer: { text: string }): string => { if (answer.text === 'busy') throw new Error('busy'); return answer.text }
  const { transport: http, observed } = transport(t, { retryIf: (e) => (e as Error).message === 'busy', outcomeOf: () => 'refused_busy' })
  t.equal(await http.call({ api: 'x', origin: url, method: 'GET', path: '/' }, read), 'done')
  t.equal(calls, 3, 'third attempt answered')
  calls = -10
  await t.rejects(http.call({ api: 'x', origin: url, method: 'GET', path: '/' }, read), { message: 'busy' })
  t.equal(calls, -7, 'gave up after 3 attempts')
  t.same(observed, ['x ok', 'x refused_busy'], 'one observation per call, retries included')
  const { transport: plain } = transport(t)
  calls = -10
  await t.rejects(plain.call({ api: 'x', origin: url, method: 'GET', path: '/' }, read), { message: 'busy' })
  t.equal(calls, -9, 'no predicate, no retry')
})

t.test('past maxPending a call is refused at once with a retry-after, and observed as overloaded', async (t) => {
  const held: ServerResponse[] = []
  const { url } = await origin(t, (_req, res) => { held.push(res) })
  const { transport: http, observed } = transport(t, { timeoutMs: 2000, maxConnections: 1, maxPending: 2, retryAfterSeconds: 7 })
  const first = http.request({ api: 'x', origin: url, method: 'GET', path: '/' })
  const second = http.request({ api: 'x', origin: url, method: 'GET', path: '/' })
  const refused = await http.request({ api: 'x', origin: url, method: 'GET', path: '/' }).catch((e: unknown) => e)
  t.ok(refused instanceof TransportOverloaded)
  t.equal((refused as TransportOverloaded).retryAfterSeconds, 7)
  t.same(observed, ['x overloaded'])
  while (held.length < 1) await new Promise((resolve) => setTimeout(resolve, 5))
  held[0]!.end('1')
  while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
  held[1]!.end('2')
  t.same([(await first).text, (await second).text], ['1', '2'])
  t.equal(http.slots.pending, 0)
})

t.test('a failing call puts no URL, query or body (secrets) in its error', async (t) => {
  const { url } = await origin(t, (req, res) => {
    if (req.url?.startsWith('/slow') === true) setTimeout(() => ok(req, res, ''), 1500)
    else res.socket?.destroy()
  })
  const { transport: http } = transport(t)
  const secret = 'S3CRET-app-secret'
  const calls = [
    http.request({ api: 'x', origin: url, method: 'GET', path: '/slow', query: { secret } }),
    http.request({ api: 'x', origin: url, method: 'POST', path: '/reset', query: { secret }, json: { secret } }),
    http.request({ api: 'x', origin: 'http://127.0.0.1:1', method: 'POST', path: `/p/${secret}`, form: { secret } })
  ]
  for (const failure of await Promise.all(calls.map(async (call) => call.catch((e: unknown) => e)))) {
    const error = failure as Error & { cause?: unknown }
    t.ok(error instanceof TransportTimeout || error instanceof TransportUnavailable, error.name)
    t.notMatch(`${error.message} ${error.stack ?? ''} ${JSON.stringify(error)} ${String(error.cause)}`, secret)
  }
})

t.test('an origin with a path is a configuration error, thrown as such (not the platform being away)', async (t) => {
  const { transport: http } = transport(t)
  t.throws(() => http.open('http://127.0.0.1:9/prefix'), { name: 'InvalidArgumentError' })
  const error = await http.request({ api: 'x', origin: 'http://127.0.0.1:9/prefix', method: 'GET', path: '/' }).catch((e: unknown) => e)
  t.notOk(error instanceof TransportUnavailable || error instanceof TransportTimeout, String(error))
  t.equal(http.slots.pending, 0)
})
