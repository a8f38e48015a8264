import type { FastifyBaseLogger } from 'fastify'
import { rollAuditPartitions } from '../audit/partitions.js'
import type { PruneBatch } from '../db/prune.js'
import type { Database } from '../db/database.js'
import { pruneEndedSessions, pruneExpiredRefreshTokens } from '../sessions/repository.js'

// Nothing grows forever. A refresh token is kept while it can still be
// presented (a retired one must be recognised as reuse until it would have
// expired); an ended session (revoked or expired) is kept SESSION_RETENTION
// for the admins, then goes with its tokens; an audit event goes after
// AUDIT_RETENTION. Each owner deletes its own rows, in small batches (short
// locks), and one instance of many does it at a time (an advisory lock).

export interface PrunePolicy {
  sessionRetentionSeconds: number
  auditRetentionSeconds: number
}

export interface PruneCounts {
  refreshTokens: number
  sessions: number
  authEvents: number
}

/** What a prune pass deletes, in the order it deletes it. */
export interface PruneStep {
  name: keyof PruneCounts
  batch: PruneBatch
}

// Any constant works; distinct from the migrator's.
const PRUNE_LOCK_ID = 72707370

export class Pruner {
  readonly steps: PruneStep[]

  constructor (private readonly db: Database, policy: PrunePolicy, private readonly now: () => number = Date.now) {
    const before = (seconds: number) => () => new Date(this.now() - seconds * 1000)
    this.steps = [
      { name: 'refreshTokens', batch: pruneExpiredRefreshTokens(db.prisma, before(0)) },
      { name: 'sessions', batch: pruneEndedSessions(db.prisma, before(policy.sessionRetentionSeconds)) },
      { name: 'authEvents', batch: rollAuditPartitions(db.prisma, this.now, policy.auditRetentionSeconds) }
    ]
  }

  /** One pass over every table, or undefined when another instance is pruning. `onBatch` sees each batch's count. */
  async run (onBatch?: (step: keyof PruneCounts, deleted: number) => void): Promise<PruneCounts | undefined> {
    return this.db.withAdvisoryLock(PRUNE_LOCK_ID, async () => {
      const counts: PruneCounts = { refreshTokens: 0, sessions: 0, authEvents: 0 }
      for (const step of this.steps) {
        for (;;) {
          const deleted = await step.batch.delete()
          if (deleted === 0) break
          counts[step.name] += deleted
          onBatch?.(step.name, deleted)
        }
      }
      return counts
    })
  }

  /** In the service: a pass every `intervalMs`, logged, never overlapping itself. */
  schedule (intervalMs: number, log: FastifyBaseLogger): () => void {
    let running: Promise<void> | undefined
    const pass = (): void => {
      if (running !== undefined) return
      const started = Date.now()
      running = this.run().then((counts) => {
        if (counts === undefined) log.debug('prune: another instance holds the lock')
        else log.info({ ...counts, ms: Date.now() - started }, `prune: removed ${counts.refreshTokens} refresh tokens, ${counts.sessions} sessions, ${counts.authEvents} audit events`)
      }, (error: unknown) => { log.warn({ err: error }, 'prune failed; the next pass retries') }).finally(() => { running = undefined })
    }
    const timer = setInterval(pass, intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }
}
