import { loadConfig } from '../config/index.js'
import { openDatabase } from '../db/database.js'
import { Progress } from './progress.js'
import { MAX_CLOCK_AHEAD_MS, Pruner, REST_RATIO, type PruneCounts } from '../maintenance/pruner.js'
import { runCli } from './run.js'

// `npm run db:prune`: one prune pass (expired refresh tokens, ended sessions past
// SESSION_RETENTION, audit events past AUDIT_RETENTION), for a cron job; the
// service also prunes every PRUNE_INTERVAL by itself. Progress on stderr,
// against the planner's estimate of the rows due (~N): counting them exactly
// would read them all once more.
runCli('db:prune', async () => {
  const config = loadConfig()
  if (config.databaseUrl === undefined) throw new Error('DATABASE_URL is not set; the embedded database is pruned by `npm start` itself')
  const db = openDatabase({ url: config.databaseUrl, poolSize: 2 })
  try {
    const policy = { sessionRetentionSeconds: config.retention.sessionSeconds, auditRetentionSeconds: config.retention.auditSeconds }
    const pruner = new Pruner(db, policy, Date.now, REST_RATIO, MAX_CLOCK_AHEAD_MS)
    const labels: Record<keyof PruneCounts, string> = { refreshTokens: 'expired refresh tokens', sessions: 'ended sessions', authEvents: 'old audit events' }
    const progress = new Map<keyof PruneCounts, Progress>()
    for (const step of pruner.steps) progress.set(step.name, new Progress(`${labels[step.name]} deleted`, await step.batch.count(), process.stderr, Date.now, 5000, true))
    const counts = await pruner.run((step, deleted) => { progress.get(step)!.add(deleted) })
    if (counts === undefined) {
      process.stdout.write('weapp-auth db:prune: another instance is pruning now; nothing done\n')
      return 0
    }
    for (const bar of progress.values()) bar.finish()
    process.stdout.write(`weapp-auth db:prune: removed ${counts.refreshTokens} refresh tokens, ${counts.sessions} sessions, ${counts.authEvents} audit events\n`)
    return 0
  } finally {
    await db.close()
  }
})
