import net from 'node:net'
import t from 'tap'
import { build } from '../helper.js'

// An attack on the audit trail that did not get through (review of e25c095),
// kept as a regression test.

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
