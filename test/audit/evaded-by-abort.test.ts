import net from 'node:net'
import pg from 'pg'
import t from 'tap'
import { APP, build } from '../helper.js'
import { login, refresh } from '../helpers/auth.js'

// The audit event is recorded in onResponse, which Fastify runs when the
// response has been written. A client that closes its connection before the
// answer comes leaves no row, whatever the request did: a thief who presents a
// stolen refresh token past the grace window and hangs up ends the victim's
// session (REFRESH_TOKEN_REUSED, revoked_reason = 'refresh_reuse') with no
// `refresh` row and no `session_revoked` row: docs/operations.md's "reuse detections of
// the last day" query shows nothing. Likewise a login that opens a session.

/** Sends a request on a raw socket and closes it after `ms`, before any answer. */
function sendAndHangUp (port: number, path: string, payload: object, ms: number): Promise<void> {
  const body = JSON.stringify(payload)
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      setTimeout(() => { socket.destroy(); resolve() }, ms)
    })
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('attack: a reuse detection whose client hangs up leaves no audit row', async (t) => {
  const { app, fake, prisma, testDb } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const victim = await login(app, fake, 'alice')
  const stolen = victim.refreshToken
  t.equal((await refresh(app, stolen)).statusCode, 200, 'the owner rotates; the thief still holds the old token')
  await app.audit.flush()
  await prisma.$executeRaw`DELETE FROM auth_events`

  // Something makes the statement take a moment (here another transaction holds the session row;
  // in production: load, a slow disk, a vacuum). The thief does not wait for the answer.
  const locker = new pg.Client({ connectionString: testDb.url })
  await locker.connect()
  t.teardown(() => locker.end())
  await locker.query('BEGIN')
  await locker.query('SELECT 1 FROM sessions FOR UPDATE')
  await sendAndHangUp(port, '/v1/auth/refresh', { refreshToken: stolen }, 200)
  await locker.query('COMMIT')
  await sleep(500)
  await app.audit.flush()

  const [session] = await prisma.$queryRaw<{ revoked_reason: string | null }[]>`SELECT revoked_reason FROM sessions`
  t.equal(session!.revoked_reason, 'refresh_reuse', 'the service detected the reuse and ended the session')
  const events = await prisma.$queryRaw<{ type: string, outcome: string }[]>`SELECT type, outcome FROM auth_events ORDER BY id`
  t.same(events, [{ type: 'refresh', outcome: 'REFRESH_TOKEN_REUSED' }, { type: 'session_revoked', outcome: 'refresh_reuse' }], 'the detection is in the audit trail')
})

t.test('attack: a login whose client hangs up opens a session and leaves no audit row', async (t) => {
  const { app, fake, prisma } = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  fake.setFault({ delayMs: 400, times: 1 })
  const { code } = fake.login(APP.appid, 'mallory')
  await sendAndHangUp(port, '/v1/auth/login', { code }, 100)
  await sleep(1000)
  await app.audit.flush()
  const [row] = await prisma.$queryRaw<{ sessions: number, events: number }[]>`
    SELECT (SELECT count(*)::int FROM sessions) AS sessions, (SELECT count(*)::int FROM auth_events) AS events`
  t.equal(row!.sessions, 1, 'the login opened a session')
  t.equal(row!.events, 1, 'and is in the audit trail')
})
