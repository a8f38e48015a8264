import { connect, createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { build, redisNamespace } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// On cd7c1d9 the breaker in plugins/redis.ts opened only on a FAILED command
// (commandTimeout 1000 ms). A Redis that answers, but slowly (a saturated or swapping Redis, a
// congested link, a cross-zone failover target), is never "down": every request
// waits for every Redis round trip it makes, sequentially. A login makes four
// (ip limit, login limit, grant claim, grant keep), so at 900 ms each a login
// takes ~3.6 s and even a Bearer-only request ~0.9 s, indefinitely.

// ioredis's own connection handshake (CLIENT SETINFO, INFO as the ready check, QUIT), which it
// repeats on each reconnect in the background, is no request waiting on Redis: one landing after
// the first login failed the count 1 run in 5 under load.
const HANDSHAKE = new Set(['client', 'info', 'quit', 'ping', 'select'])
const requestCommands = (chunk: Buffer): boolean =>
  [...chunk.toString('latin1').matchAll(/\*\d+\r\n\$\d+\r\n([^\r]+)\r\n/g)].some(([, name]) => !HANDSHAKE.has(name!.toLowerCase()))

async function slowRelay (t: Test, delayMs: number): Promise<{ port: number, commands: () => number }> {
  const sockets = new Set<Socket>()
  let commands = 0
  const server = createServer((client) => {
    const upstream = connect(6379, '127.0.0.1')
    sockets.add(client); sockets.add(upstream)
    upstream.on('data', (chunk) => { setTimeout(() => client.write(chunk), delayMs) })
    client.on('data', (chunk) => { if (requestCommands(chunk)) commands++; upstream.write(chunk) })
    for (const s of [client, upstream]) { s.on('error', () => {}); s.on('close', () => { client.destroy(); upstream.destroy() }) }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); return new Promise<void>((resolve) => server.close(() => resolve())) })
  return { port: (server.address() as AddressInfo).port, commands: () => commands }
}

t.test('attack: a Redis answering in 900 ms is treated like a hung one: after one time-out, requests stop waiting on it', async (t) => {
  const { prefix } = await redisNamespace(t)
  const relay = await slowRelay(t, 900)
  // The service's clock stands still: the breaker's 5 s cool-down never ends during the test,
  // however slowly a loaded machine runs it (on the wall clock it did, and a probe was sent).
  const now = Date.now()
  const { app, fake } = await build(t, { env: { REDIS_URL: `redis://127.0.0.1:${relay.port}`, REDIS_PREFIX: prefix }, clock: () => now })
  let token = (await login(app, fake, 'slow-0')).accessToken
  const afterFirst = relay.commands()
  for (let i = 1; i < 4; i++) token = (await login(app, fake, `slow-${i}`)).accessToken
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(token) })).statusCode, 200)
  // Failed on cd7c1d9: every later request sent its commands and waited ~900 ms for each.
  t.equal(relay.commands(), afterFirst, 'no request after the time-out sent Redis anything to wait on')
  t.equal(app.redisHealth.usable(), false, 'the breaker is open')
})
