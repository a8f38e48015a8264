import type { FastifyBaseLogger } from 'fastify'
import type { Database } from '../db/database.js'
import { statement } from '../db/statements.js'
import { createPartitionsAhead, DAY_MS } from './partitions.js'

// The owner of `auth_events`: who logged in, refreshed, logged out, read their
// data, from where, and what they got. Never a secret: ids, addresses, codes of
// outcomes, no code, token, session_key or encrypted data.

export type AuthEventType = 'login' | 'refresh' | 'logout' | 'logout_all' | 'decrypt' | 'verify' | 'phone' | 'session_revoked'

export interface AuthEvent {
  type: AuthEventType
  /** `ok`, or the error code the client got (REFRESH_TOKEN_REUSED, WECHAT_CODE_USED...), or why a session was revoked. */
  outcome: string
  userId?: string
  sessionId?: string
  appid?: string
  ip?: string
  userAgent?: string
  requestId?: string
}

export interface AuditOptions {
  /** How long an event may wait in memory before it is written. */
  flushMs?: number
  /** Events written per statement. */
  batch?: number
  /** While the database refuses them, events kept for a retry; the oldest go beyond this (and it is logged). */
  maxPending?: number
  now?: () => number
}

/** Text as the column takes it: cut to its length, without NUL (which Postgres text refuses, failing the whole batch). */
const text = (value: string | undefined, max: number): string | null => value === undefined ? null : value.replaceAll('\u0000', '').slice(0, max)
/**
 * At most `max` characters, in a string of its own: V8's slice of a long string
 * is a view that keeps the whole original alive, so a long one is copied out.
 */
const cut = (value: string | undefined, max: number): string | undefined =>
  value === undefined || value.length <= max ? value : Buffer.from(value.slice(0, max), 'utf8').toString('utf8')
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** The columns are uuid: anything else would fail the whole batch. */
const uuid = (value: string | undefined): string | null => value !== undefined && UUID.test(value) ? value : null

/**
 * One multi-row INSERT per batch, the rows as one array per column: a
 * prepared statement on the pool (it runs once a second beside the request
 * path; Prisma's createMany cost ten times its CPU, see docs/performance.md).
 */
const insertEvents = statement('audit_insert', {}, `
  INSERT INTO auth_events (created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id)
  SELECT * FROM unnest($1::timestamptz[], $2::varchar[], $3::varchar[], $4::uuid[], $5::uuid[], $6::varchar[], $7::varchar[], $8::varchar[], $9::varchar[])`)

/**
 * A batched writer: a request adds its event to a buffer (no round trip of its
 * own) and the buffer is written with one multi-row INSERT a second, or as soon
 * as a batch is full. On a graceful shutdown the buffer is written before the
 * pool closes, so nothing is lost; a crash loses at most the last second. We
 * chose this over sharing each route's own statement because failures (a bad
 * code, a reused token, a rate limit) write nothing of their own to share, and
 * they are what an audit is for.
 */
export class AuditLog {
  private pending: (AuthEvent & { createdAt: Date })[] = []
  private timer?: NodeJS.Timeout
  private writing?: Promise<void>
  private dropped = 0
  private readonly flushMs: number
  private readonly batch: number
  private readonly maxPending: number
  private readonly now: () => number
  /** The UTC day (days since the epoch) the partitions ahead were last made for. */
  private rolledDay?: number

  constructor (private readonly db: Database, private readonly log: FastifyBaseLogger, options: AuditOptions = {}) {
    this.flushMs = options.flushMs ?? 1000
    this.batch = options.batch ?? 500
    this.maxPending = options.maxPending ?? 100_000
    this.now = options.now ?? Date.now
  }

  record (event: AuthEvent): void {
    // Cut to the columns' sizes now, not when written: while the database refuses
    // writes, up to maxPending events wait here, and a client's 16 KB User-Agent must not.
    this.pending.push({
      type: event.type,
      outcome: cut(event.outcome, 64)!,
      userId: event.userId,
      sessionId: event.sessionId,
      appid: cut(event.appid, 64),
      ip: cut(event.ip, 64),
      userAgent: cut(event.userAgent, 256),
      requestId: cut(event.requestId, 64),
      createdAt: new Date(this.now())
    })
    if (this.pending.length > this.maxPending) {
      this.pending.splice(0, this.pending.length - this.maxPending)
      if (this.dropped++ === 0) this.log.warn('audit: the database has refused events for long: the oldest are dropped')
    }
    if (this.pending.length >= this.batch) this.flushSoon(0)
    else this.flushSoon(this.flushMs)
  }

  /** Writes everything buffered (one INSERT per batch); what the database refuses stays buffered for the next flush. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.writing !== undefined) await this.writing
    while (this.pending.length > 0) {
      const events = this.pending.splice(0, this.batch)
      this.writing = this.write(events)
      try {
        await this.writing
        if (this.dropped > 0) {
          this.log.warn({ dropped: this.dropped }, 'audit: writing again; events were dropped while the database refused them')
          this.dropped = 0
        }
      } catch (error) {
        this.pending.unshift(...events)
        this.log.warn({ err: error, events: events.length }, 'audit: events not written yet, kept for the next attempt')
        this.flushSoon(this.flushMs)
        return
      } finally {
        this.writing = undefined
      }
    }
  }

  /**
   * Once a UTC day (by this writer's clock), the partitions of today and the
   * days ahead: a service running past its days ahead (PRUNE_INTERVAL=0 with a
   * rare cron, passes failing) would put every event in the default partition,
   * which a pass then files by scanning the whole default once per day it
   * files. A failure is only logged: the default partition takes the events.
   */
  async rollAhead (): Promise<void> {
    const now = this.now()
    if (Math.floor(now / DAY_MS) === this.rolledDay) return
    this.rolledDay = Math.floor(now / DAY_MS)
    await createPartitionsAhead(this.db.prisma, new Date(now)).catch((error: unknown) => {
      this.log.warn({ err: error }, 'audit: could not create the partitions ahead; events go to auth_events_default until the next prune pass')
    })
  }

  private flushSoon (ms: number): void {
    if (this.timer !== undefined && ms > 0) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.flush().catch(() => {}) }, ms)
    this.timer.unref()
  }

  private async write (events: (AuthEvent & { createdAt: Date })[]): Promise<void> {
    await this.rollAhead()
    const column = <T>(pick: (e: AuthEvent & { createdAt: Date }) => T): T[] => events.map(pick)
    await this.db.run(insertEvents, [
      column((e) => e.createdAt),
      column((e) => text(e.type, 32)),
      column((e) => text(e.outcome, 64)),
      column((e) => uuid(e.userId)),
      column((e) => uuid(e.sessionId)),
      column((e) => text(e.appid, 64)),
      column((e) => text(e.ip, 64)),
      column((e) => text(e.userAgent, 256)),
      column((e) => text(e.requestId, 64))
    ])
  }
}
