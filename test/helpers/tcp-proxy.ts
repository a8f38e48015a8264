import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/**
 * A loopback TCP relay a test can cut and restore (a server that goes away),
 * or stall (a server that hangs: connections stay open, nothing is answered).
 */
export class TcpProxy {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private cutOff = false
  private stalled = false
  /** Chunks clients sent while the relay was stalled (requests that reached a hung server). */
  stalledChunks = 0
  port = 0

  constructor (private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {
    this.server = createServer((client) => {
      if (this.cutOff) { client.destroy(); return }
      const upstream = connect(this.targetPort, this.targetHost)
      for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(from)
        from.on('error', () => to.destroy())
        from.on('close', () => { this.sockets.delete(from); to.destroy() })
        from.on('data', (chunk) => {
          if (!this.stalled) { to.write(chunk); return }
          if (from === client) this.stalledChunks++
        })
      }
    })
  }

  async listen (t: Test): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    t.teardown(() => this.close())
    return this.port
  }

  /** The server goes away: open connections are reset, new ones refused, until restore(). */
  async cut (): Promise<void> {
    this.cutOff = true
    for (const socket of this.sockets) socket.destroy()
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** The server hangs: connections stay up, bytes are swallowed in both directions, until restore(). */
  stall (): void {
    this.stalled = true
  }

  async restore (): Promise<void> {
    this.cutOff = false
    this.stalled = false
    if (!this.server.listening) await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve))
  }

  async close (): Promise<void> {
    await this.cut()
  }
}
