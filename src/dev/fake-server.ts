import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

// The HTTP plumbing and fault switches every fake platform shares: it listens,
// counts calls per path, holds requests a test wants to act during, and plays
// the failures a real platform (or what stands between) shows. Each fake
// speaks its own protocol in `route` and renders its own error envelope.

export interface Fault {
  /** Wait before answering (or before failing). */
  delayMs?: number
  /** Answer with this HTTP status and an HTML body, as a gateway would. */
  status?: number
  /** Answer 200 with a body that is not JSON. */
  malformed?: boolean
  /** Destroy the connection without an answer. */
  reset?: boolean
  /** Answer with this platform error code, in the platform's envelope (WeChat errcode -1, Douyin err_no 40018, ...). */
  errcode?: number
  /** Answer 200 with exactly this JSON value (a platform that lies: fields missing, null, an array...). */
  body?: unknown
  /** How many requests the fault applies to; unlimited when absent. */
  times?: number
  /** Only requests to this path (e.g. '/wxa/checksession'); every path when absent. */
  path?: string
}

/** A request the fake keeps unanswered until the test says so (see FakeServer.holdNext). */
export interface PathHold {
  /** Resolves when the held request has arrived. */
  reached: Promise<void>
  /** Lets the held request go on to be answered as usual (faults included). */
  release: () => void
}

/** Answers held by `hold()`: the test learns when they arrived and says when they go. */
export interface Held {
  /** Resolves once `count` requests are waiting. */
  arrived: Promise<void>
  /** Let them be answered (as they would have been, faults included). */
  release: () => void
}

interface Hold { count: number, waiting: number, arrive: () => void, released: Promise<void>, release: () => void }

/** A code the mini-program got from its login call: single use, bound to one app and user. */
export interface IssuedCode {
  appid: string
  user: string
  issuedAt: number
  used: boolean
}

export const newCode = (): string => randomBytes(24).toString('base64url')

export abstract class FakeServer {
  private server?: Server
  private fault?: Fault
  private readonly holds: Hold[] = []
  private readonly pathHolds = new Map<string, { arrived: () => void, gate: Promise<void> }>()
  /** Releases of every hold not yet released, so close() lets held requests end. */
  private readonly pendingReleases = new Set<() => void>()
  /** Requests received per platform path (the fake's own /__fake paths are not counted). */
  readonly calls = new Map<string, number>()
  url = ''

  /** Answers one platform request (faults and holds already applied). */
  protected abstract route (req: IncomingMessage, url: URL, res: ServerResponse): Promise<void>
  /** The platform's error envelope for this code. */
  protected abstract error (code: number): object

  async listen (port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => { this.handle(req, res).catch((error) => this.answer(res, 500, { error: String(error) })) })
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve))
    const { port: bound } = this.server.address() as AddressInfo
    this.url = `http://${host}:${bound}`
    return this.url
  }

  async close (): Promise<void> {
    for (const hold of this.holds.splice(0)) hold.release()
    for (const release of this.pendingReleases) release()
    this.pendingReleases.clear()
    if (this.server === undefined) return
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server!.close(() => resolve()))
  }

  setFault (fault: Fault | undefined): void {
    this.fault = fault
  }

  /**
   * Hold the next `count` platform requests unanswered until `release()`: a
   * test waits for `arrived` (an event) instead of guessing a delay.
   */
  hold (count = 1): Held {
    let arrive!: () => void
    let release!: () => void
    const arrived = new Promise<void>((resolve) => { arrive = resolve })
    const released = new Promise<void>((resolve) => { release = resolve })
    this.holds.push({ count, waiting: 0, arrive, released, release })
    return { arrived, release }
  }

  /**
   * The next request to this path waits, unanswered, until `release()`: a
   * test can act while a caller is known to be inside that call. One request
   * only; later ones are answered at once.
   */
  holdNext (path: string): PathHold {
    let arrived!: () => void
    let release!: () => void
    const reached = new Promise<void>((resolve) => { arrived = resolve })
    const gate = new Promise<void>((resolve) => { release = resolve })
    this.pathHolds.set(path, { arrived, gate })
    this.pendingReleases.add(release)
    return { reached, release: () => { this.pendingReleases.delete(release); release() } }
  }

  callCount (path: string): number {
    return this.calls.get(path) ?? 0
  }

  /**
   * The mini-program's side of the platform over HTTP (/__fake/login,
   * /__fake/checksession, /__fake/user-info, /__fake/phone), for a runtime
   * simulated in another process: the call for `path`, undefined when the
   * platform has no such thing. A call throws when the app or user is unknown.
   */
  protected clientSide (_path: string, _body: Record<string, unknown>): (() => unknown) | undefined {
    return undefined
  }

  /** The fake's own control paths (/__fake/...), for a runtime simulated in another process; `/__fake/fault` sets a fault. */
  protected control (path: string, body: Record<string, unknown>, res: ServerResponse): void {
    if (path === '/__fake/fault') {
      this.setFault(Object.keys(body).length === 0 ? undefined : body as Fault)
      return this.answer(res, 204, undefined)
    }
    const call = this.clientSide(path, body)
    if (call === undefined) return this.answer(res, 404, this.error(404))
    let result: unknown
    try { result = call() } catch (error) { return this.answer(res, 400, { error: (error as Error).message }) }
    this.answer(res, 200, result)
  }

  protected answer (res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return
    if (body === undefined) { res.writeHead(status).end(); return }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    if (url.pathname.startsWith('/__fake/')) return this.control(url.pathname, await readJson(req), res)
    this.calls.set(url.pathname, this.callCount(url.pathname) + 1)
    const hold = this.holds.find((h) => h.waiting < h.count)
    if (hold !== undefined) {
      if (++hold.waiting === hold.count) hold.arrive()
      await hold.released
    }
    const held = this.pathHolds.get(url.pathname)
    if (held !== undefined) {
      this.pathHolds.delete(url.pathname)
      held.arrived()
      await held.gate
    }
    if (await this.applyFault(res, url.pathname)) return
    return this.route(req, url, res)
  }

  private async applyFault (res: ServerResponse, path: string): Promise<boolean> {
    const fault = this.fault
    if (fault === undefined || (fault.path !== undefined && fault.path !== path)) return false
    if (fault.times !== undefined && --fault.times <= 0) this.fault = undefined
    if (fault.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, fault.delayMs))
    if (res.destroyed) return true
    if (fault.reset === true) { res.socket?.destroy(); return true }
    if (fault.status !== undefined) { res.writeHead(fault.status, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>'); return true }
    if (fault.malformed === true) { res.writeHead(200, { 'content-type': 'text/plain' }).end('{"openid": "trunc'); return true }
    if (fault.errcode !== undefined) { this.answer(res, 200, this.error(fault.errcode)); return true }
    if ('body' in fault) { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(fault.body)); return true }
    return false
  }
}

async function readText (req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text
}

/** The request's JSON object body; anything else reads as {} (the platform then finds its fields missing). */
export async function readJson (req: IncomingMessage): Promise<Record<string, unknown>> {
  try {
    const text = await readText(req)
    const value: unknown = JSON.parse(text === '' ? '{}' : text)
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : {}
  } catch {
    return {}
  }
}

/** The request's form body (application/x-www-form-urlencoded). */
export async function readForm (req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams(await readText(req))
}

/** Whose phone a /__fake/ client call plays: `appid` is the app's name at the fake (Baidu's appKey), `user` the fake's user. */
export function clientOf (body: Record<string, unknown>): { appid: string, user: string } {
  return { appid: String(body.appid ?? ''), user: String(body.user ?? 'demo-user') }
}
