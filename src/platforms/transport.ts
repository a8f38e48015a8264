import { errors as undiciErrors, Pool, type Dispatcher } from 'undici'
import { Slots } from './slots.js'

// The HTTP layer every platform adapter shares: a keep-alive pool per origin,
// bounded admission (Slots), one deadline per call, retries of "busy" answers
// only. It knows no platform's envelope: it hands back the status and the raw
// text (Alipay verifies its signature over the exact bytes) and lets the
// adapter's reader say what the answer means. URLs and bodies carry secrets:
// nothing here logs them or puts them in an error.

export const DEFAULT_MAX_CONNECTIONS = 256
export const DEFAULT_MAX_PENDING = 1024
export const DEFAULT_RETRY_AFTER_SECONDS = 5
/** No platform's answer to a login comes near this; a bigger one is not read into memory. */
export const MAX_ANSWER_BYTES = 256 * 1024

/** The platform did not answer within the call's deadline. */
export class TransportTimeout extends Error {
  override name = 'TransportTimeout'
  constructor () {
    super('the platform did not answer in time')
  }
}

/** No usable answer: connection refused or reset, a gateway's status, a body that is not what the platform sends. */
export class TransportUnavailable extends Error {
  override name = 'TransportUnavailable'
  /** A fixed phrase for the logs (never the body or URL, which carry secrets). */
  constructor (readonly reason: string) {
    super(`the platform could not be reached or answered unexpectedly: ${reason}`)
  }
}

/** Too many calls are already waiting on this platform; try again after `retryAfterSeconds`. */
export class TransportOverloaded extends Error {
  override name = 'TransportOverloaded'
  constructor (readonly retryAfterSeconds: number) {
    super('too many calls are waiting on the platform')
  }
}

export interface TransportRequest {
  /** The API's name for metrics (`jscode2session`); never the URL, which carries secrets. */
  api: string
  /** `scheme://host[:port]`; calls to one origin share one pool. */
  origin: string
  method: 'GET' | 'POST'
  path: string
  query?: Record<string, string>
  /** A POST body sent as JSON... */
  json?: object
  /** ...or as an HTML form (application/x-www-form-urlencoded). */
  form?: Record<string, string>
  headers?: Record<string, string>
}

export interface Answer {
  status: number
  /** The body exactly as received (UTF-8). */
  text: string
}

export interface TransportOptions {
  /** Upper bound for one call on the wire, retries included (time queued for a slot is bounded apart, by the same value). */
  timeoutMs: number
  /** Calls on the wire at once, one keep-alive connection each. */
  maxConnections?: number
  /** Calls admitted at once (on the wire plus queued); more are refused at once with TransportOverloaded. */
  maxPending?: number
  retryAfterSeconds?: number
  /** Told of every call: its API, its outcome, and its time on the wire (absent when it never got a slot). */
  observe?: (api: string, outcome: string, seconds?: number) => void
  /**
   * The outcome label of an error thrown by a call's reader (a platform's
   * refusal). Transport failures label themselves: `timeout`, `unavailable`,
   * `overloaded`. Labels must come from a bounded set.
   */
  outcomeOf?: (error: unknown) => string
  /** An error of the reader that means "busy, try again": retried with backoff while the deadline allows. */
  retryIf?: (error: unknown) => boolean
  busyAttempts?: number
  busyBackoffMs?: number
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

function isTimeout (error: unknown): boolean {
  const { name, code } = error as { name?: string, code?: string }
  return name === 'TimeoutError' || name === 'AbortError' || (code !== undefined && TIMEOUT_CODES.has(code))
}

function transportOutcome (error: unknown): string | undefined {
  if (error instanceof TransportTimeout) return 'timeout'
  if (error instanceof TransportUnavailable) return 'unavailable'
  if (error instanceof TransportOverloaded) return 'overloaded'
  return undefined
}

/** A 200 answer whose body is a JSON object; anything else is the platform's (or a gateway's) fault. */
export function jsonObject (answer: Answer): Record<string, unknown> {
  if (answer.status !== 200) throw new TransportUnavailable(`HTTP status ${answer.status}`)
  let body: unknown
  try { body = JSON.parse(answer.text) } catch { throw new TransportUnavailable('body is not JSON') }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new TransportUnavailable('body is not a JSON object')
  return body as Record<string, unknown>
}

export class Transport {
  /** Calls admitted (on the wire plus queued); `pending` is 0 whenever nothing is in flight. */
  readonly slots: Slots
  private readonly pools = new Map<string, Pool>()
  private readonly connections: number

  constructor (private readonly options: TransportOptions) {
    this.connections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    const retryAfter = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS
    // Logins waiting on a slow platform are I/O, not work: hundreds at once must not fail for want of a connection.
    this.slots = new Slots(
      this.connections, Math.max(this.connections, options.maxPending ?? DEFAULT_MAX_PENDING), () => new TransportOverloaded(retryAfter)
    )
  }

  /** The raw answer, for a caller that reads it itself. */
  async request (request: TransportRequest): Promise<Answer> {
    return this.call(request, (answer) => answer)
  }

  /**
   * One call: a slot first (bounded wait), then the call on the wire, its
   * answer handed to `read`. What `read` throws is the call's failure (and is
   * retried when `retryIf` says busy); what it returns is the call's result.
   */
  async call<T> (request: TransportRequest, read: (answer: Answer) => T): Promise<T> {
    const { observe } = this.options
    let release: () => void
    try {
      release = await this.slots.acquire(this.options.timeoutMs)
    } catch (error) {
      observe?.(request.api, 'overloaded')
      throw error
    }
    const started = performance.now()
    try {
      const result = await this.withRetries(request, read)
      observe?.(request.api, 'ok', (performance.now() - started) / 1000)
      return result
    } catch (error) {
      observe?.(request.api, transportOutcome(error) ?? this.options.outcomeOf?.(error) ?? 'refused', (performance.now() - started) / 1000)
      throw error
    } finally {
      release()
    }
  }

  async close (): Promise<void> {
    await Promise.all([...this.pools.values()].map(async (pool) => pool.close()))
    this.pools.clear()
  }

  private async withRetries<T> (request: TransportRequest, read: (answer: Answer) => T): Promise<T> {
    const { timeoutMs, retryIf } = this.options
    const attempts = this.options.busyAttempts ?? 3
    const backoff = this.options.busyBackoffMs ?? 100
    const deadline = Date.now() + timeoutMs
    // A timer cleared when the call ends: AbortSignal.timeout would leave one per login for the GC.
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    try {
      for (let attempt = 1; ; attempt++) {
        const answer = await this.once(request, controller.signal)
        try {
          return read(answer)
        } catch (error) {
          const backoffMs = backoff * 2 ** (attempt - 1) * (0.5 + Math.random())
          if (retryIf?.(error) !== true || attempt >= attempts || Date.now() + backoffMs >= deadline) throw error
          await new Promise((resolve) => setTimeout(resolve, backoffMs))
        }
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private async once ({ origin, method, path, query, json, form, headers }: TransportRequest, signal: AbortSignal): Promise<Answer> {
    // Outside the try: an origin that is not one is a configuration error, not the platform being away.
    const pool = this.open(origin)
    try {
      const search = query === undefined ? '' : new URLSearchParams(query).toString()
      const body = json !== undefined
        ? { body: JSON.stringify(json), type: 'application/json' }
        : form !== undefined ? { body: new URLSearchParams(form).toString(), type: 'application/x-www-form-urlencoded' } : undefined
      const res = await pool.request({
        method,
        path: search === '' ? path : `${path}?${search}`,
        signal,
        ...(body !== undefined ? { body: body.body } : {}),
        headers: { ...(body !== undefined ? { 'content-type': body.type } : {}), ...headers }
      })
      return { status: res.statusCode, text: await readCapped(res.body) }
    } catch (error) {
      if (error instanceof TransportUnavailable) throw error
      if (isTimeout(error) || signal.aborted) throw new TransportTimeout()
      if (error instanceof undiciErrors.UndiciError || (error as { code?: string }).code !== undefined) throw new TransportUnavailable('connection failed')
      throw error
    }
  }

  /** The pool for `origin` (`scheme://host[:port]`, no path), opened now if it is not yet: a bad origin throws here. */
  open (origin: string): Pool {
    let pool = this.pools.get(origin)
    if (pool === undefined) {
      const { timeoutMs } = this.options
      pool = new Pool(origin, {
        connections: this.connections,
        connectTimeout: Math.min(timeoutMs, 3000),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        keepAliveTimeout: 30_000
      })
      this.pools.set(origin, pool)
    }
    return pool
  }
}

async function readCapped (body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_ANSWER_BYTES) {
      body.destroy()
      throw new TransportUnavailable('answer too large')
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
