import type { PruneBatch } from '../db/prune.js'
import type { PrismaClient } from '../generated/prisma/client.js'

// The audit trail (auth_events_log, read and written as the view auth_events)
// is partitioned by UTC day of created_at (the migration
// 20261206400000_audit_partitions): audit_partitions.auth_events_pYYYYMMDD,
// and a default partition that catches any row no day takes, so an insert never fails for
// want of a partition. This module keeps the days ahead created, files what
// the default caught into its day, and expires a day by dropping its
// partition: one statement whatever its size.

/** Days created ahead of today, by the service at start and on every prune pass, and by db:prune. */
export const AHEAD_DAYS = 7
export const DAY_MS = 86_400_000
const DAY_PARTITION = /^auth_events_p(\d{4})(\d{2})(\d{2})$/
/** Rows counted exactly in a partition about to be dropped; beyond, the planner's estimate (counting must not cost what deleting did). */
const EXACT_COUNT_UP_TO = 100_000

export interface AuditPartition {
  name: string
  /** The first instant of its day (UTC). */
  from: Date
  /** The first instant of the next day. */
  to: Date
}

export interface DroppedPartition extends AuditPartition {
  /** Rows it held: exact up to 100,000, the planner's estimate beyond. */
  rows: number
  /** Time the DROP TABLE took. */
  ms: number
}

const utcDay = (at: number): string => new Date(Math.floor(at / DAY_MS) * DAY_MS).toISOString().slice(0, 10)

/** The day partitions (in schema audit_partitions), oldest first; the default partition and anything not named by day are left out. */
export async function listPartitions (prisma: PrismaClient): Promise<AuditPartition[]> {
  const rows = await prisma.$queryRaw<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'auth_events_log'::regclass AND c.relnamespace = 'audit_partitions'::regnamespace`
  return rows.flatMap(({ name }) => {
    const day = DAY_PARTITION.exec(name)
    if (day === null) return []
    const from = new Date(`${day[1]}-${day[2]}-${day[3]}T00:00:00Z`)
    return [{ name, from, to: new Date(from.getTime() + DAY_MS) }]
  }).sort((a, b) => a.from.getTime() - b.from.getTime())
}

/** Creates the partition of the UTC day holding `at` (moving in that day's rows the default caught); false when it exists. */
export async function createPartition (prisma: PrismaClient, at: Date): Promise<boolean> {
  const [row] = await prisma.$queryRaw<{ created: boolean }[]>`SELECT auth_events_create_partition(${utcDay(at.getTime())}::date) AS created`
  return row!.created
}

/** The partitions of today and `aheadDays` days after it (by `now`); the names created. */
export async function createPartitionsAhead (prisma: PrismaClient, now: Date, aheadDays = AHEAD_DAYS): Promise<string[]> {
  const created: string[] = []
  for (let day = 0; day <= aheadDays; day++) {
    const at = new Date(now.getTime() + day * DAY_MS)
    if (await createPartition(prisma, at)) created.push(`auth_events_p${utcDay(at.getTime()).replaceAll('-', '')}`)
  }
  return created
}

/**
 * Empties the default partition: rows older than `cutoff` are deleted, the
 * others go to their day's partition (created for them). The number deleted.
 * A row past year 9999 (`infinity`, a typo by hand) has no day to name a
 * partition by: it stays in the default partition rather than failing every
 * pass before its expired days are dropped.
 */
export async function fileDefaultRows (prisma: PrismaClient, cutoff: Date): Promise<number> {
  const deleted = await prisma.$executeRaw`DELETE FROM audit_partitions.auth_events_default WHERE created_at < ${cutoff}`
  const days = await prisma.$queryRaw<{ day: Date }[]>`
    SELECT DISTINCT date_trunc('day', created_at, 'UTC') AS day FROM audit_partitions.auth_events_default WHERE created_at < '10000-01-01Z'`
  for (const { day } of days) await createPartition(prisma, day)
  return deleted
}

async function rowsIn (prisma: PrismaClient, name: string): Promise<number> {
  const [row] = await prisma.$queryRawUnsafe<{ counted: number, estimate: number }[]>(
    `SELECT (SELECT count(*)::int FROM (SELECT 1 FROM audit_partitions."${name}" LIMIT ${EXACT_COUNT_UP_TO}) AS head) AS counted,
            (SELECT reltuples::float8 FROM pg_class WHERE oid = 'audit_partitions."${name}"'::regclass) AS estimate`)
  return row!.counted < EXACT_COUNT_UP_TO ? row!.counted : Math.max(EXACT_COUNT_UP_TO, Math.round(row!.estimate))
}

/** Drops one day's partition (one DROP TABLE, waiting at most 5 s for its lock); its rows and the time the drop took. */
export async function dropPartition (prisma: PrismaClient, partition: AuditPartition): Promise<DroppedPartition> {
  if (!DAY_PARTITION.test(partition.name)) throw new Error(`not an auth_events day partition: ${partition.name}`)
  const rows = await rowsIn(prisma, partition.name)
  const started = performance.now()
  await prisma.$transaction([
    prisma.$executeRaw`SELECT set_config('lock_timeout', '5s', true)`,
    prisma.$executeRawUnsafe(`DROP TABLE audit_partitions."${partition.name}"`)
  ])
  return { ...partition, rows, ms: performance.now() - started }
}

/** Drops every day partition whose whole day is older than `cutoff`, oldest first. */
export async function dropPartitionsBefore (prisma: PrismaClient, cutoff: Date): Promise<DroppedPartition[]> {
  const dropped: DroppedPartition[] = []
  for (const partition of await listPartitions(prisma)) {
    if (partition.to.getTime() > cutoff.getTime()) break
    dropped.push(await dropPartition(prisma, partition))
  }
  return dropped
}

/**
 * The audit step of a prune pass: days ahead created, the default partition
 * filed, then every day older than the retention dropped (an event goes
 * between AUDIT_RETENTION and a day later). `count` is an estimate for
 * progress: it reads no partition.
 */
export function rollAuditPartitions (prisma: PrismaClient, now: () => number, retentionSeconds: number): PruneBatch {
  const cutoff = (): Date => new Date(now() - retentionSeconds * 1000)
  return {
    count: async () => {
      const due = (await listPartitions(prisma)).filter((p) => p.to.getTime() <= cutoff().getTime()).map((p) => p.name)
      const [row] = await prisma.$queryRaw<{ n: number }[]>`
        SELECT (SELECT count(*) FROM audit_partitions.auth_events_default WHERE created_at < ${cutoff()})::float8
             + coalesce((SELECT sum(greatest(reltuples, 0)) FROM pg_class WHERE relnamespace = 'audit_partitions'::regnamespace AND relname = ANY(${due})), 0)::float8 AS n`
      return Math.round(row!.n)
    },
    delete: async () => {
      await createPartitionsAhead(prisma, new Date(now()))
      const filed = await fileDefaultRows(prisma, cutoff())
      const dropped = await dropPartitionsBefore(prisma, cutoff())
      return dropped.reduce((sum, p) => sum + p.rows, filed)
    }
  }
}
