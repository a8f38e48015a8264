import type { PrismaClient } from '../generated/prisma/client.js'

/**
 * One table's part of a prune pass, written by the table's owner: how many rows
 * are due (for progress), and deleting the next batch of them (small batches:
 * short locks, and a pass that stops anywhere loses nothing).
 */
export interface PruneBatch {
  /** How many rows are due: the planner's estimate where the owner has one (never a scan of the table). */
  count: () => Promise<number>
  /** Deletes at most PRUNE_BATCH due rows; the number deleted, 0 when none are left. */
  delete: () => Promise<number>
}

export const PRUNE_BATCH = 1000

/**
 * One way rows of `table` come due. `find` selects their `key` ($1: the
 * cutoff) through an index, ordered by that index's column, so a batch reads
 * about the rows it deletes however many rows are not due (Prisma's findMany
 * orders by id: the primary key is walked and filtered, 872k rows read for a
 * batch of 1000 on a seeded table, issue 18).
 */
export interface PruneStatement {
  table: string
  /**
   * `ctid` when `find` reads `table` itself: the rows found are deleted where
   * they lie (they are locked, so they cannot move), without a probe of the
   * primary key per row, which on random uuids cost 30-40 ms of a 70-80 ms
   * batch of 1000 (EXPLAIN ANALYZE, 200k tokens). `id` when found elsewhere.
   */
  key: 'ctid' | 'id'
  find: string
  cutoff: () => Date
}

/** One statement per batch: the rows locked (skipping rows a request holds) and deleted. */
export const deleteSql = ({ table, key, find }: PruneStatement): string =>
  `DELETE FROM ${table} WHERE ${key} = ANY(ARRAY(${find} LIMIT $2::int FOR UPDATE SKIP LOCKED))`

/** The planner's estimate of the rows `query` returns: EXPLAIN without ANALYZE reads statistics, not the table. */
export async function estimateRows (prisma: PrismaClient, query: string, values: unknown[]): Promise<number> {
  const [row] = await prisma.$queryRawUnsafe<{ 'QUERY PLAN': unknown }[]>(`EXPLAIN (FORMAT JSON) ${query}`, ...values)
  const plan = row?.['QUERY PLAN']
  const [top] = (typeof plan === 'string' ? JSON.parse(plan) : plan) as [{ Plan: { 'Plan Rows': number } }]
  return Math.round(top.Plan['Plan Rows'])
}

/** A PruneBatch over `statements`, in order: a batch deletes from the first that has due rows. */
export function pruneBy (prisma: PrismaClient, statements: PruneStatement[]): PruneBatch {
  return {
    count: async () => {
      let due = 0
      for (const s of statements) due += await estimateRows(prisma, s.find, [s.cutoff()])
      return due
    },
    delete: async () => {
      for (const s of statements) {
        const deleted = await prisma.$executeRawUnsafe(deleteSql(s), s.cutoff(), PRUNE_BATCH)
        if (deleted > 0) return deleted
      }
      return 0
    }
  }
}
