import type { FastifyBaseLogger } from 'fastify'
import { rollAuditPartitions } from '../audit/partitions.js'
import type { PruneBatch } from '../db/prune.js'
import type { Database } from '../db/database.js'
import { pruneEndedSessions, pruneExpiredRefreshTokens } from '../sessions/prune.js'

// Nothing grows forever. A refresh token is kept while it can still be
// presented (a retired one must be recognised as reuse until it would have
// expired); an ended session is kept while a token of it can still be
// presented, plus SESSION_RETENTION (0 by default), then goes with its tokens;
// an audit event goes after AUDIT_RETENTION. Each owner deletes its own rows,
// in small batches found through an index (one short statement each), and one
// instance of many does it at a time (an advisory lock).

export interface PrunePolicy {
  sessionRetentionSeconds: number
  auditRetentionSeconds: number
}

/**
 * After each batch the pruner rests REST_RATIO times as long as the batch
 * took: a pass holds at most 1 / (1 + REST_RATIO) of one connection, and backs
 * off by itself when the database is slow. Measured with bench:scale on 200k
 * seeded sessions: without a rest, refresh throughput during the pass fell to
 * 43%; resting 1x, 79%, with tokens still pruned at 23-29k rows/s (docs/operations.md,
 * "Scaling").
 */
export const REST_RATIO = 1

/**
 * A pass of the service or of db:prune refuses to run while its clock is more
 * than this ahead of the database's: every cutoff is this clock less a
 * retention, so a clock set a year ahead (a bad NTP answer, an operator's
 * typo) would delete every session and the whole audit trail in one pass.
 * Behind is harmless (less is pruned). Tests that move a Pruner's clock leave
 * the check off.
 */
export const MAX_CLOCK_AHEAD_MS = 3_600_000

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
  /** The moment a pass began: its cutoffs stay where its clock check found them. */
  private passStarted?: number

  constructor (
    private readonly db: Database, policy: PrunePolicy, private readonly now: () => number = Date.now,
    private readonly restRatio = REST_RATIO, private readonly maxClockAheadMs = Number.POSITIVE_INFINITY
  ) {
    const clock = (): number => this.passStarted ?? this.now()
    const before = (seconds: number) => () => new Date(clock() - seconds * 1000)
    this.steps = [
      { name: 'refreshTokens', batch: pruneExpiredRefreshTokens(db.prisma, before(0)) },
      { name: 'sessions', batch: pruneEndedSessions(db.prisma, before(policy.sessionRetentionSeconds)) },
      { name: 'authEvents', batch: rollAuditPartitions(db.prisma, clock, policy.auditRetentionSeconds) }
    ]
  }

  /** One pass over every table, or undefined when another instance is pruning. `onBatch` sees each batch's count. */
  async run (onBatch?: (step: keyof PruneCounts, deleted: number) => void): Promise<PruneCounts | undefined> {
    return this.db.withAdvisoryLock(PRUNE_LOCK_ID, async (held) => {
      const started = this.now()
      await this.checkClock(started)
      this.passStarted = started
      try {
        return await this.prune(held, onBatch)
      } finally {
        this.passStarted = undefined
      }
    })
  }

  /**
   * Every step, batch after batch, resting after each; stopped as soon as the
   * lock is lost (its connection dropped: another instance may take it and prune too).
   */
  private async prune (held: () => boolean, onBatch?: (step: keyof PruneCounts, deleted: number) => void): Promise<PruneCounts> {
    const counts: PruneCounts = { refreshTokens: 0, sessions: 0, authEvents: 0 }
    for (const step of this.steps) {
      for (;;) {
        if (!held()) throw new Error('lost the advisory lock (its connection closed): the pass stops, the next one goes on')
        const started = Date.now()
        const deleted = await step.batch.delete()
        if (deleted === 0) break
        counts[step.name] += deleted
        onBatch?.(step.name, deleted)
        if (this.restRatio > 0) await new Promise((resolve) => setTimeout(resolve, (Date.now() - started) * this.restRatio))
      }
    }
    return counts
  }

  /** Throws when `now` is more than maxClockAheadMs ahead of the database's clock. */
  private async checkClock (now: number): Promise<void> {
    if (this.maxClockAheadMs === Number.POSITIVE_INFINITY) return
    const [row] = await this.db.prisma.$queryRaw<{ now: Date }[]>`SELECT now() AS now`
    const ahead = now - row!.now.getTime()
    if (ahead > this.maxClockAheadMs) throw new Error(`this clock is ${Math.round(ahead / 1000)} s ahead of the database's: nothing pruned (its cutoffs would expire rows early)`)
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
