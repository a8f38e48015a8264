import net from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { APP, build } from '../helper.js'
import { login } from '../helpers/auth.js'

// Attacks on the ban, the audit trail and the metrics that did not get through
// (review of e25c095), kept as regression tests.

/** Raw bytes on the real listener: what the HTTP parser lets through, not what inject would. */
function raw (port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    let answer = ''
    socket.on('data', (chunk) => { answer += chunk.toString('latin1') })
    socket.on('close', () => resolve(answer))
    socket.on('error', () => resolve(answer))
  })
}

t.test('held: a login code retried inside its 10 s window after a ban gets no tokens', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  const first = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(first.statusCode, 200)
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${first.json().user.id}::uuid`
  const retry = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.not(retry.statusCode, 200)
  t.notOk(retry.json().accessToken, 'the kept grant is not handed out')
})

t.test('held: control bytes in User-Agent never reach the audit batch (Node refuses them); Latin-1 bytes are written', async (t) => {
  const { app, prisma } = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  for (const bad of ['\x00', '\x01', '\x1b', '\x7f']) {
    const answer = await raw(port, Buffer.from(`POST /v1/auth/logout HTTP/1.1\r\nHost: x\r\nUser-Agent: a${bad}b\r\nConnection: close\r\n\r\n`, 'latin1'))
    t.match(answer, /^HTTP\/1\.1 400/, `${JSON.stringify(bad)} refused by the parser`)
  }
  const answer = await raw(port, Buffer.from('POST /v1/auth/logout HTTP/1.1\r\nHost: x\r\nUser-Agent: caf\xe9\xff\r\nX-Forwarded-For: \xff\xfe\r\nConnection: close\r\n\r\n', 'latin1'))
  t.match(answer, /^HTTP\/1\.1 401/)
  await app.audit.flush()
  const rows = await prisma.$queryRaw<{ user_agent: string }[]>`SELECT user_agent FROM auth_events`
  t.same(rows, [{ user_agent: 'caf\xe9\xff' }], 'written; the batch did not fail')
})

t.test('held: /metrics is not on the public listener; route labels never take the raw URL', async (t) => {
  const { app } = await build(t, { env: { METRICS_PORT: '0' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  for (const path of ['/metrics', '/metrics/', '//metrics', '/metrics?x', '/%6detrics']) {
    const res = await request(`${base}${path}`)
    await res.body.dump()
    t.equal(res.statusCode, 404, path)
  }
  for (let i = 0; i < 20; i++) await (await request(`${base}/probe-${i}`)).body.dump()
  const text = await (await request(app.metricsUrl!)).body.text()
  t.notMatch(text, /probe-/, 'unmatched URLs share the label "unmatched"')
})

t.test('held: logout-all by a banned user only ends sessions (nothing issued)', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${alice.user.id}::uuid`
  const out = await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: { authorization: `Bearer ${alice.accessToken}` } })
  t.ok([204, 403].includes(out.statusCode))
  const [row] = await prisma.$queryRaw<{ live: number }[]>`SELECT count(*)::int AS live FROM sessions WHERE revoked_at IS NULL`
  t.equal(row!.live, 0)
})
