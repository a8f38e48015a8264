import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// The HTTP plumbing and fault switches the Baidu and Alipay fakes share: a
// server on a free port, form bodies read, and faults applied before the
// platform's own answer; each fake answers platform-level faults (an error,
// a lying body) in its own envelope.

export interface FakeFault {
  /** Wait before answering (or before failing). */
  delayMs?: number
  /** Answer with this HTTP status and an HTML body, as a gateway would. */
  status?: number
  /** Answer 200 with a body that is not JSON. */
  malformed?: boolean
  /** Destroy the connection without an answer. */
  reset?: boolean
  /** Answer with this platform error (Baidu's OAuth2 `error`, Alipay's `sub_code`). */
  error?: string
  /** Answer 200 with this JSON value in the platform's envelope (a platform that lies). */
  body?: Record<string, unknown>
  /** How many requests the fault applies to; unlimited when absent. */
  times?: number
  /** Only requests to this path; every path when absent. */
  path?: string
}

export interface FakeRequest {
  method: string
  path: string
  query: URLSearchParams
  form: URLSearchParams
}

export interface FakeReply {
  status: number
  /** The body as sent, byte for byte (Alipay's signature covers it). */
  text: string
}

export const jsonReply = (value: unknown, status = 200): FakeReply => ({ status, text: JSON.stringify(value) })

export abstract class FakePlatformServer<F extends FakeFault = FakeFault> {
  private server?: Server
  private fault?: F
  readonly calls = new Map<string, number>()
  url = ''

  /**
   * The platform's answer to a request the network faults let through; `fault`
   * is the active fault, whose platform-level switches (error, body, and any of
   * the fake's own) the fake applies in its own envelope.
   */
  protected abstract route (request: FakeRequest, fault: F | undefined): FakeReply

  async listen (port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => this.send(res, jsonReply({ error: String(error) }, 500)))
    })
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve))
    this.url = `http://${host}:${(this.server.address() as AddressInfo).port}`
    return this.url
  }

  async close (): Promise<void> {
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }

  setFault (fault: F | undefined): void {
    this.fault = fault === undefined ? undefined : { ...fault }
  }

  callCount (path: string): number {
    return this.calls.get(path) ?? 0
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    let text = ''
    for await (const chunk of req) text += String(chunk)
    const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') === true ? new URLSearchParams(text) : new URLSearchParams()
    const request: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, form }
    this.calls.set(request.path, this.callCount(request.path) + 1)
    const active = this.fault
    const fault = active !== undefined && (active.path === undefined || active.path === request.path) ? active : undefined
    if (fault !== undefined) {
      if (fault.times !== undefined && --fault.times <= 0) this.fault = undefined
      if (fault.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
      if (res.destroyed) return
      if (fault.reset === true) { res.socket?.destroy(); return }
      if (fault.status !== undefined) { res.writeHead(fault.status, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'); return }
      if (fault.malformed === true) { res.writeHead(200, { 'content-type': 'text/plain' }).end('{"openid": "trunc'); return }
    }
    this.send(res, this.route(request, fault))
  }

  private send (res: ServerResponse, reply: FakeReply): void {
    if (res.headersSent || res.destroyed) return
    res.writeHead(reply.status, { 'content-type': 'application/json;charset=utf-8' }).end(reply.text)
  }
}
