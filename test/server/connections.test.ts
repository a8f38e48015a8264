import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import { createLogger } from '../../src/logger.js'
import { descriptorLimit } from '../../src/plugins/connections.js'
import { addressKey } from '../../src/plugins/rate-limit.js'
import { ED25519_PEM, VAULT_KEYS, build, startFakeWechat, testDatabase } from '../helper.js'

// The built entry point, as `npm start` runs it.
const SERVER = new URL('../../dist/server.js', import.meta.url).pathname

/** GET path from a local address of the loopback range; its status, or the error's code (ECONNRESET, TIMEOUT). */
async function get (url: string, path: string, localAddress: string): Promise<number | string> {
  const { hostname, port } = new URL(url)
  return await new Promise((resolve) => {
    const req = request({ host: hostname, port, path, localAddress, agent: false, timeout: 10_000 }, (res) => {
      res.resume()
      resolve(res.statusCode!)
    })
    req.on('timeout', () => { req.destroy(); resolve('TIMEOUT') })
    req.on('error', (error: Error & { code?: string }) => { resolve(error.code ?? error.message) })
    req.end()
  })
}

interface HalfSent { sockets: Socket[], closed: () => number, settled: Promise<void> }

/**
 * `count` connections from `localAddress`, each a request whose headers never end;
 * `settled` once the server has answered each with a close or kept it.
 */
function halfSent (url: string, count: number, localAddress = '127.0.0.1'): HalfSent {
  const { hostname, port } = new URL(url)
  let closed = 0
  const sockets: Socket[] = []
  const each: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: hostname, port: Number(port), localAddress })
    socket.on('error', () => {})
    socket.on('close', () => { closed++ })
    sockets.push(socket)
    each.push(once(socket, 'connect').then(() => { socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ') }, () => {}))
  }
  return { sockets, closed: () => closed, settled: Promise.all(each).then(() => {}) }
}

/** Waits for `condition`; the bound only ends a test that would otherwise hang. */
async function until (condition: () => boolean, what: string, boundMs = 20_000): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    if (waited > boundMs) throw new Error(`never: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('attack: 300 half-sent requests from one address under a 256-descriptor limit leave every other client answered', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const dir = await mkdtemp(join(tmpdir(), 'weapp-connections-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // systemd's default is 1024; 256 keeps the flood small. The pool and WeChat's
  // sockets are kept small too, so the limit leaves room for clients.
  const child = spawn('/bin/sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${SERVER}"`], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      DATA_DIR: dir,
      DATABASE_URL: testDb.url,
      DATABASE_POOL_SIZE: '2',
      WECHAT_APPID: 'wxtest0000000001',
      WECHAT_SECRET: 'test-secret-0001',
      WECHAT_API_BASE: fake.url,
      WECHAT_MAX_CONNECTIONS: '4',
      WECHAT_MAX_PENDING: '4',
      JWT_PRIVATE_KEY: ED25519_PEM,
      SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS,
      MAX_CONNECTIONS_PER_IP: '20'
    },
    cwd: dir
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  const exited = once(child, 'exit')
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited } })
  await until(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 'listening', 120_000)
  if (child.exitCode !== null) throw new Error(`the server exited:\n${output}`)
  const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!

  const flood = halfSent(url, 300)
  t.teardown(() => { for (const socket of flood.sockets) socket.destroy() })
  await flood.settled
  t.equal(await get(url, '/healthz', '127.0.0.2'), 200, 'another client is answered')
  t.equal(await get(url, '/healthz', '127.0.0.3'), 200, 'and another')
  await until(() => flood.closed() >= 280, `280 of the flood's connections closed (${flood.closed()} so far)`).catch((error: Error) => { t.fail(error.message) })
  t.equal(flood.closed(), 280, 'all but the 20 the address may hold are closed')
  t.match(output, /connections refused past MAX_CONNECTIONS_PER_IP/, 'a warning names the cap')
  t.equal(output.match(/connections refused past/g)?.length, 1, 'once, not once per connection')
})

// Failed before: the metrics listener had no cap of its own, so 300 half-sent requests to it took
// every descriptor the process had, and the public port reset every client (ECONNRESET).
t.test('attack: half-sent requests to the metrics listener leave the public port answering', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const dir = await mkdtemp(join(tmpdir(), 'weapp-connections-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const child = spawn('/bin/sh', ['-c', `ulimit -n 256 && exec "${process.execPath}" "${SERVER}"`], {
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      METRICS_PORT: '0',
      DATA_DIR: dir,
      DATABASE_URL: testDb.url,
      DATABASE_POOL_SIZE: '2',
      WECHAT_APPID: 'wxtest0000000001',
      WECHAT_SECRET: 'test-secret-0001',
      WECHAT_API_BASE: fake.url,
      WECHAT_MAX_CONNECTIONS: '4',
      WECHAT_MAX_PENDING: '4',
      JWT_PRIVATE_KEY: ED25519_PEM,
      SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS
    },
    cwd: dir
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  const exited = once(child, 'exit')
  t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited } })
  await until(() => /Server listening at http:\/\/127\.0\.0\.1:\d+/.test(output) || child.exitCode !== null, 'listening', 120_000)
  if (child.exitCode !== null) throw new Error(`the server exited:\n${output}`)
  const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!
  const metricsUrl = /metrics at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)![1]!

  const flood = halfSent(metricsUrl, 300)
  t.teardown(() => { for (const socket of flood.sockets) socket.destroy() })
  await flood.settled
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(await get(url, '/healthz', '127.0.0.2'), 200, 'a client of the public port is answered')
  t.equal(await get(url, '/healthz', '127.0.0.3'), 200, 'and another')
})

/** The app listening on 127.0.0.1, its warnings collected. */
async function listening (t: Test, env: Record<string, string>, clock: () => number): Promise<{ url: string, warnings: string[] }> {
  const warnings: string[] = []
  const logger = createLogger('warn', new Writable({ write (chunk, _encoding, done) { warnings.push(...String(chunk).split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg)); done() } }))
  const { app } = await build(t, { env, logger, clock })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, warnings }
}

t.test('attack: connections past MAX_CONNECTIONS are refused at once, with one warning a minute', async (t) => {
  let now = Date.now()
  const { url, warnings } = await listening(t, { MAX_CONNECTIONS: '6', MAX_CONNECTIONS_PER_IP: '4' }, () => now)
  const first = halfSent(url, 4, '127.0.0.4')
  const second = halfSent(url, 4, '127.0.0.5')
  t.teardown(() => { for (const socket of [...first.sockets, ...second.sockets]) socket.destroy() })
  await Promise.all([first.settled, second.settled])
  await until(() => first.closed() + second.closed() >= 2, 'two connections refused')
  t.equal(first.closed() + second.closed(), 2, 'six held, two refused')
  t.same(warnings.filter((w) => w.startsWith('connections refused')).length, 1, 'one warning')

  const third = halfSent(url, 3, '127.0.0.6')
  t.teardown(() => { for (const socket of third.sockets) socket.destroy() })
  await third.settled
  await until(() => third.closed() === 3, 'the next three refused')
  t.same(warnings.filter((w) => w.startsWith('connections refused')).length, 1, 'still one warning within the minute')
  now += 60_000
  const fourth = halfSent(url, 1, '127.0.0.6')
  await fourth.settled
  await until(() => fourth.closed() === 1, 'refused')
  t.same(warnings.filter((w) => w.startsWith('connections refused')), [
    'connections refused past MAX_CONNECTIONS (1 since the last warning)',
    'connections refused past MAX_CONNECTIONS (5 since the last warning)'
  ], 'a minute later, one more, counting what it did not log')

  for (const socket of first.sockets) socket.destroy()
  await until(() => first.closed() + second.closed() >= 6, 'the first client gone')
  t.equal(await get(url, '/healthz', '127.0.0.7'), 200, 'room again once connections close')
})

// Failed before: a request whose headers gained a byte every 5 s stayed open about 80 s, though
// the README promised such a request closed within a minute: Node held headers to its own 60 s.
t.test('attack: a request trickled a byte at a time is closed within 35 s', async (t) => {
  t.setTimeout(120_000)
  const { url } = await listening(t, {}, Date.now)
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  socket.on('error', () => {})
  await once(socket, 'connect')
  const started = Date.now()
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  const trickle = setInterval(() => { if (socket.writable) socket.write('a', () => {}) }, 5_000)
  socket.on('close', () => clearInterval(trickle))
  t.teardown(() => { clearInterval(trickle); socket.destroy() })
  const closed = await Promise.race([new Promise((resolve) => socket.on('close', () => resolve(true))), new Promise((resolve) => setTimeout(resolve, 40_000, false))])
  t.equal(closed, true, `closed within 35 s (after ${Date.now() - started} ms)`)
})

t.test('a trusted proxy is held to the overall cap only; a client address counts by its IPv6 /64', async (t) => {
  const { url } = await listening(t, { TRUST_PROXY: '127.0.0.8', MAX_CONNECTIONS_PER_IP: '2' }, Date.now)
  const proxy = halfSent(url, 5, '127.0.0.8')
  const client = halfSent(url, 5, '127.0.0.9')
  t.teardown(() => { for (const socket of [...proxy.sockets, ...client.sockets]) socket.destroy() })
  await Promise.all([proxy.settled, client.settled])
  await until(() => client.closed() >= 3, 'the client past its cap refused')
  t.equal(await get(url, '/healthz', '127.0.0.8'), 200, 'the proxy still gets through')
  t.same([proxy.closed(), client.closed()], [0, 3])

  t.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:ffff:1:2:3'), 'one /64, one client')
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'))
  t.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1')
})

t.test('the descriptor limit is read from the process', async (t) => {
  const limit = descriptorLimit()
  t.ok(limit >= 256, `ulimit -n ${limit}`)
})
