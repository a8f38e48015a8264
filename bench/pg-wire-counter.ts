import { connect, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A loopback relay in front of Postgres that counts round trips on the wire:
 * every simple Query ('Q') and every Sync ('S', the end of an extended-protocol
 * exchange) the client sends is one trip to the server and back.
 */
export class PgWireCounter {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  roundTrips = 0

  constructor (private readonly target: { host: string, port: number }) {
    this.server = createServer((client) => {
      const upstream = connect(target.port, target.host)
      this.sockets.add(client).add(upstream)
      let started = false
      let pending = Buffer.alloc(0)
      client.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk])
        for (;;) {
          // The startup message (and an SSL request) has no type byte.
          const header = started ? 5 : 4
          if (pending.length < header) break
          const length = started ? pending.readInt32BE(1) + 1 : pending.readInt32BE(0)
          if (pending.length < length) break
          if (started && (pending[0] === 0x51 || pending[0] === 0x53)) this.roundTrips++
          if (!started && pending.readInt32BE(4) !== 80877103) started = true
          pending = pending.subarray(length)
        }
        upstream.write(chunk)
      })
      upstream.pipe(client)
      const end = () => { client.destroy(); upstream.destroy() }
      client.on('error', end).on('close', end)
      upstream.on('error', end).on('close', end)
    })
  }

  async listen (): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return (this.server.address() as AddressInfo).port
  }

  async close (): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
