import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/** A loopback TCP relay a test can cut and restore, to lose a database or Redis mid-run. */
export class TcpProxy {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private cutOff = false
  port = 0

  constructor (private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {
    this.server = createServer((client) => {
      if (this.cutOff) { client.destroy(); return }
      const upstream = connect(this.targetPort, this.targetHost)
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(a)
        a.on('error', () => b.destroy())
        a.on('close', () => { this.sockets.delete(a); b.destroy() })
        a.pipe(b)
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

  async restore (): Promise<void> {
    this.cutOff = false
    if (!this.server.listening) await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve))
  }

  async close (): Promise<void> {
    await this.cut()
  }
}
