import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AuditLog, type AuthEventType } from '../audit/log.js'
import { ServiceError, type Subject } from '../errors.js'
import { clientCode } from './errors.js'
import { clientKey } from './rate-limit.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit event a route's outcome is recorded as. */
    audit?: AuthEventType
  }
  interface FastifyRequest {
    /** Who the answer was about: set by the route on success, or before the call with what it knows (an error's subject adds to it). */
    auditSubject?: Subject
    /** The error the client got, with who it was about and the session it ended, if any. */
    auditError?: { code: string, subject?: Subject, revoked?: string }
  }
  interface FastifyInstance {
    audit: AuditLog
  }
}

// A flood past a limit is recorded once per client and window, not once per
// request: the trail must not be what an attacker fills.
const REFUSAL_MEMORY_MS = 60_000
const MAX_REMEMBERED = 10_000

/**
 * Records every outcome of the routes that declare `config.audit` (failures
 * included) in auth_events, and counts logins and refreshes in the metrics:
 * `ok` or the error code the client got; who, from where, which request. Never
 * a body or a header but the User-Agent.
 */
export default fp(async function audit (app: FastifyInstance, { clock }: { clock: () => number }) {
  const log = new AuditLog(app.db, app.log, { now: clock })
  app.decorate('audit', log)
  app.decorateRequest('auditSubject', undefined)
  app.decorateRequest('auditError', undefined)
  const refused = new Map<string, number>()

  app.addHook('onError', (request, _reply, error, done) => {
    const ours = error instanceof ServiceError ? error : undefined
    request.auditError = { code: clientCode(error), subject: ours?.subject, revoked: ours?.revoked }
    done()
  })

  // onSend, not onResponse: onResponse never runs for a client that hangs up before
  // the answer is written, and what the request did (a session opened, one ended
  // for reuse) must be in the trail all the same.
  app.addHook('onSend', (request, reply, payload, done) => {
    const type = request.routeOptions.config.audit
    if (type === undefined) { done(null, payload); return }
    const failure = reply.statusCode >= 400 ? request.auditError : undefined
    const outcome = reply.statusCode < 400 ? 'ok' : (failure?.code ?? `HTTP_${reply.statusCode}`)
    const claims = (request as { user?: { sub?: string, sid?: string, appid?: string } }).user
    const named = failure?.subject === undefined ? request.auditSubject : { ...request.auditSubject, ...failure.subject }
    const subject: Subject = named ?? { userId: claims?.sub, sessionId: claims?.sid, appid: claims?.appid }
    app.metrics.authOutcome(type, outcome, subject.appid)
    // A failure that names no one (no user, no session: a bad code, a forged token, a flood)
    // is noise an attacker controls: one row per client (as the limiter counts clients: an
    // IPv6 /64 is one), route, outcome and minute; the metrics still count every one.
    // So is a 401 that ends nothing: the tokens of a session that has ended stay in the client's
    // hands, and each replay wrote a row (600 for 600). One row per client, route, outcome, minute
    // and session; a failure that ends a session is always written.
    const anonymous = outcome !== 'ok' && subject.userId === undefined && subject.sessionId === undefined
    const deduplicated = anonymous || outcome === 'RATE_LIMITED' || (reply.statusCode === 401 && failure?.revoked === undefined)
    // A 429 naming a session is the per-user limit's (the others refuse before the token is read):
    // one row per session, from however many /64s.
    const client = outcome === 'RATE_LIMITED' && subject.sessionId !== undefined ? '' : clientKey(request)
    if (deduplicated && !firstRefusal(`${type}:${outcome}:${client}:${subject.sessionId ?? subject.userId ?? ''}`)) { done(null, payload); return }
    const where = { ip: request.ip, userAgent: request.headers['user-agent'], requestId: request.id }
    log.record({ type, outcome, ...subject, ...where })
    if (failure?.revoked !== undefined) log.record({ type: 'session_revoked', outcome: failure.revoked, ...subject, ...where })
    done(null, payload)
  })

  // Entries are kept in the order they expire (a renewed key moves to the end), so the
  // expired ones are the oldest. Full of live keys, a new one is not recorded: forgetting
  // a live one instead let 10,001 /64s of one /48 write a row with every request.
  function firstRefusal (key: string): boolean {
    const now = clock()
    const until = refused.get(key)
    if (until !== undefined && until > now) return false
    refused.delete(key)
    for (const [oldest, expiry] of refused) {
      if (refused.size < MAX_REMEMBERED || expiry > now) break
      refused.delete(oldest)
    }
    if (refused.size >= MAX_REMEMBERED) return false
    refused.set(key, now + REFUSAL_MEMORY_MS)
    return true
  }

  // The days ahead, at start (the writer and the prune pass keep them ahead). A failure is only
  // logged: the default partition takes the events meanwhile.
  app.addHook('onReady', async () => { await log.rollAhead() })

  // Written before the pool closes (plugins close in reverse order of registration): nothing is lost on a graceful shutdown.
  app.addHook('onClose', async () => { await log.flush() })
}, { name: 'audit', dependencies: ['database', 'metrics'] })
