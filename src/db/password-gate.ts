import { createHash, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

// pglite-socket (0.2.17) has no authentication: PGlite answers every startup
// with AuthenticationOk, as superuser. This gate speaks the start of the
// Postgres protocol itself: it asks for a cleartext password (the socket is
// loopback only, so it never crosses a wire), compares it, and only then hands
// the connection, startup message included, to pglite-socket on a socket path
// no other user can open.

const PROTOCOL_3 = 196_608
const SSL_REQUEST = 80_877_103
const GSSENC_REQUEST = 80_877_104
const PASSWORD_MESSAGE = 0x70 // 'p'
const MAX_MESSAGE_BYTES = 10_000
/** From accept to the password checked, however the bytes trickle in. */
const HANDSHAKE_TIMEOUT_MS = 5_000
const CLEARTEXT_PASSWORD_REQUEST = Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])

const digest = (text: Buffer | string): Buffer => createHash('sha256').update(text).digest()

/** A FATAL ErrorResponse, as Postgres sends for a failed login (28P01). */
function loginRefused (): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0')
  const header = Buffer.alloc(5)
  header.write('E', 0)
  header.writeInt32BE(4 + fields.length, 1)
  return Buffer.concat([header, fields])
}

export interface PasswordGate {
  port: number
  close: () => Promise<void>
}

/**
 * Listens on host:port; a client that gives `password` is joined to the server at `backendPath`.
 * At maxConnections a new client takes the place of the oldest one still short of the password,
 * so clients that never log in (any local user can open them) cannot lock the service out.
 */
export async function startPasswordGate (
  options: { password: string, backendPath: string, host: string, port: number, maxConnections: number, handshakeTimeoutMs?: number }
): Promise<PasswordGate> {
  const expected = digest(options.password)
  const sockets = new Set<Socket>()
  /** Clients yet to give the password, oldest first. */
  const pending = new Set<Socket>()
  const server = createServer((client) => {
    if (sockets.size >= options.maxConnections) {
      const oldest = pending.values().next().value
      if (oldest === undefined) { client.destroy(); return }
      pending.delete(oldest)
      sockets.delete(oldest)
      oldest.destroy()
    }
    sockets.add(client)
    pending.add(client)
    client.on('close', () => { sockets.delete(client); pending.delete(client) })
    admit(client, expected, options.backendPath, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, () => pending.delete(client))
  })
  server.listen(options.port, options.host)
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve))
      for (const socket of sockets) socket.destroy()
      await closed
    }
  }
}

/** Startup (after declining SSL), password request, password check; anything else ends the connection. */
function admit (client: Socket, expected: Buffer, backendPath: string, timeoutMs: number, admitted: () => void): void {
  let buffered = Buffer.alloc(0)
  let startup: Buffer | undefined
  // A deadline, not an idle timeout: one byte every few seconds must not hold a place.
  const deadline = setTimeout(() => client.destroy(), timeoutMs)
  client.on('close', () => clearTimeout(deadline))
  client.on('error', () => client.destroy())
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk])
    for (;;) {
      if (startup === undefined) {
        if (buffered.length < 8) return
        const length = buffered.readInt32BE(0)
        const code = buffered.readInt32BE(4)
        if (length < 8 || length > MAX_MESSAGE_BYTES) { client.destroy(); return }
        if (buffered.length < length) return
        const message = buffered.subarray(0, length)
        buffered = buffered.subarray(length)
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) { client.write('N'); continue }
        // A CancelRequest has nothing to cancel in PGlite; any other code is not Postgres 3.
        if (code !== PROTOCOL_3) { client.destroy(); return }
        startup = message
        client.write(CLEARTEXT_PASSWORD_REQUEST)
        continue
      }
      if (buffered.length >= 1 && buffered[0] !== PASSWORD_MESSAGE) { client.off('data', onData); client.end(loginRefused()); return }
      if (buffered.length < 5) return
      const length = buffered.readInt32BE(1)
      if (length < 5 || length > MAX_MESSAGE_BYTES) { client.destroy(); return }
      if (buffered.length < 1 + length) return
      client.off('data', onData)
      // The payload is the password and its terminating NUL.
      if (!timingSafeEqual(digest(buffered.subarray(5, length)), expected)) { client.end(loginRefused()); return }
      clearTimeout(deadline)
      admitted()
      join(client, Buffer.concat([startup, buffered.subarray(1 + length)]), backendPath)
      return
    }
  }
  client.on('data', onData)
}

function join (client: Socket, first: Buffer, backendPath: string): void {
  const backend = connect(backendPath)
  const end = (): void => { client.destroy(); backend.destroy() }
  backend.on('error', end)
  backend.on('close', end)
  client.on('close', end)
  backend.write(first)
  client.pipe(backend)
  backend.pipe(client)
}
