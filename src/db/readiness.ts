import type { FastifyBaseLogger } from 'fastify'
import { SingleFlight } from '../single-flight.js'
import type { Database } from './database.js'
import { isConnectionError } from './errors.js'

export type Verdict = { ready: true } | { ready: false, reason: 'database unreachable' | 'database check failed' }

const CHECK_TIMEOUT_MS = 2000
// One database check a second at most, whoever asks and however often: /readyz
// is public and exempt from rate limits (a load balancer must never be refused).
const VERDICT_MEMORY_MS = 1000

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Whether this instance can serve: the database answers. */
export class Readiness {
  private readonly verdicts: SingleFlight<Verdict>

  constructor (private readonly db: Database, private readonly log: FastifyBaseLogger, now: () => number = Date.now) {
    this.verdicts = new SingleFlight<Verdict>(VERDICT_MEMORY_MS, 1, now)
  }

  check (): Promise<Verdict> {
    return this.verdicts.run('database', async () => {
      try {
        await withTimeout(this.db.ping(), CHECK_TIMEOUT_MS)
        return { ready: true }
      } catch (error) {
        // The cause goes to the log; the answer is public, so it says no more than the reason.
        const reason = isConnectionError(error) ? 'database unreachable' : 'database check failed'
        this.log.warn({ err: error }, `readiness: ${reason}`)
        return { ready: false, reason }
      }
    })
  }
}
