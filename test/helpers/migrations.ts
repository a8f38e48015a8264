import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js'

/** Applies the migrations older than `before` (a migration's name or timestamp): the schema a previous release ran on. */
export async function migrateBefore (t: Test, url: string, before: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-before-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const name of (await readdir(MIGRATIONS_DIR)).filter((n) => /^\d{14}_/.test(n) && n < before)) {
    await cp(join(MIGRATIONS_DIR, name), join(dir, name), { recursive: true })
  }
  await migrate(url, dir)
}
