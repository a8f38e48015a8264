import { AuditLog } from '../src/audit/log.js'
import { openDatabase } from '../src/db/database.js'
import { createLogger } from '../src/logger.js'

// What the audit trail costs a request: AuditLog.record() (a push into a
// buffer) plus its share of the batched multi-row INSERT, measured as this
// process's CPU time per event, and the INSERT's own wall time per batch.

export interface AuditCost {
  events: number
  cpuPerEventUs: number
  msPerBatch: number
  batch: number
}

export async function auditCost (databaseUrl: string, events = 20_000, batch = 500): Promise<AuditCost> {
  const db = openDatabase({ url: databaseUrl, poolSize: 2 })
  try {
    const log = new AuditLog(db, createLogger('silent'), { batch })
    const event = (i: number) => ({
      type: 'login' as const,
      outcome: 'ok',
      userId: '0b5a4a8e-4f0e-4d55-9a43-3c1b1f7f0c11',
      sessionId: '7d1f3f0a-2a8b-4a9e-8f3c-5b6e2d1c0a99',
      appid: 'wxbench000000001',
      ip: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50',
      requestId: `req-${i}`
    })
    // Warm-up: Prisma's first createMany compiles its plan.
    for (let i = 0; i < batch * 2; i++) log.record(event(i))
    await log.flush()

    const cpu = process.cpuUsage()
    const started = performance.now()
    for (let i = 0; i < events; i++) log.record(event(i))
    // Written in statements of `batch` rows, as in the service.
    await log.flush()
    const used = process.cpuUsage(cpu)
    const ms = performance.now() - started
    await db.prisma.$executeRawUnsafe('DELETE FROM auth_events')
    return {
      events,
      cpuPerEventUs: Math.round(((used.user + used.system) / events) * 10) / 10,
      msPerBatch: Math.round((ms / (events / batch)) * 10) / 10,
      batch
    }
  } finally {
    await db.close()
  }
}
