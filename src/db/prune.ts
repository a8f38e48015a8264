/**
 * One table's part of a prune pass, written by the table's owner: how many rows
 * are due (for progress), and deleting the next batch of them (small batches:
 * short locks, and a pass that stops anywhere loses nothing).
 */
export interface PruneBatch {
  count: () => Promise<number>
  /** Deletes at most PRUNE_BATCH due rows; the number deleted, 0 when none are left. */
  delete: () => Promise<number>
}

export const PRUNE_BATCH = 1000

/**
 * Deletes the next batch of due rows: at most PRUNE_BATCH ids found by `find`,
 * then removed by id (a short statement on an index); the number removed.
 */
export async function deleteBatch<Id> (find: (take: number) => Promise<Id[]>, remove: (ids: Id[]) => Promise<{ count: number }>): Promise<number> {
  const ids = await find(PRUNE_BATCH)
  return ids.length === 0 ? 0 : (await remove(ids)).count
}
