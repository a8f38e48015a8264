import { cp, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createPartition, dropPartition, listPartitions } from '../src/audit/partitions.js'
import { auditCost } from './audit-cost.js'
import { openDatabase } from '../src/db/database.js'
import { MIGRATIONS_DIR, migrate } from '../src/db/migrate.js'

// The audit trail before and after partitioning, on a scratch database:
// bytes per event (table and indexes) with N events in one day, the time to
// drop that day, and what the number of partitions costs a query's planning
// (daily partitions over 180 days against weekly ones), and what the writer's
// INSERT costs before and after.
//   npx tsx bench/audit-partitions.ts [events=1000000]
// Needs PostgreSQL (ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres).

const ADMIN_URL = process.env.ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const PARTITIONED = '20261206400000'
const events = Number(process.argv[2] ?? 1_000_000)
const DAY_MS = 86_400_000

async function query<T extends pg.QueryResultRow> (url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try { return (await client.query<T>(sql)).rows } finally { await client.end() }
}

/** Bytes of a relation and its indexes, and of each index, summed over its partitions. */
async function sizes (url: string, table: string): Promise<{ total: number, indexes: Record<string, number> }> {
  const parts = `(SELECT '${table}'::regclass AS oid UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = '${table}'::regclass)`
  const [row] = await query<{ total: string }>(url, `SELECT sum(pg_total_relation_size(oid)) AS total FROM ${parts} p`)
  const rows = await query<{ name: string, bytes: string }>(url, `
    SELECT coalesce(pi.relname, ic.relname) AS name, sum(pg_relation_size(i.indexrelid)) AS bytes
    FROM ${parts} p JOIN pg_index i ON i.indrelid = p.oid JOIN pg_class ic ON ic.oid = i.indexrelid
    LEFT JOIN pg_inherits h ON h.inhrelid = i.indexrelid LEFT JOIN pg_class pi ON pi.oid = h.inhparent
    GROUP BY 1 ORDER BY 1`)
  return { total: Number(row!.total), indexes: Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)])) }
}

const perEvent = (bytes: number) => (bytes / events).toFixed(1)

async function main (): Promise<void> {
  const name = `weapp_bench_audit_${process.pid}`
  await query(ADMIN_URL, `CREATE DATABASE "${name}"`)
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`)
  const dir = await mkdtemp(join(tmpdir(), 'weapp-migrations-'))
  try {
    for (const m of await readdir(MIGRATIONS_DIR)) if (m < PARTITIONED) await cp(join(MIGRATIONS_DIR, m), join(dir, m), { recursive: true })
    await migrate(url, dir)
    const writer = async () => { const c = await auditCost(url); return `${c.msPerBatch} ms per INSERT of ${c.batch}, ${c.cpuPerEventUs} µs of client CPU per event` }
    process.stdout.write(`the audit writer, unpartitioned: ${await writer()}\n`)
    const day = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS)
    // Yesterday's events, shaped like the service's: 5% failures, 100 k users, a few apps.
    const started = performance.now()
    await query(url, `
      INSERT INTO auth_events (created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id)
      SELECT '${day.toISOString()}'::timestamptz + (g * interval '86399 milliseconds') / ${events} * 1000,
             (ARRAY['login','refresh','refresh','refresh','decrypt','logout'])[1 + g % 6],
             CASE WHEN g % 20 = 0 THEN 'REFRESH_TOKEN_INVALID' ELSE 'ok' END,
             md5('u' || g % 100000)::uuid, md5('s' || g % 300000)::uuid, 'wx' || lpad((g % 3)::text, 14, '0'),
             '198.' || (g % 250) || '.' || (g % 199) || '.' || (g % 97),
             'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50',
             'req-' || lpad(to_hex(g), 8, '0')
      FROM generate_series(1, ${events}) g`)
    await query(url, 'VACUUM ANALYZE auth_events')
    const before = await sizes(url, 'auth_events')
    process.stdout.write(`seeded ${events} events in ${Math.round(performance.now() - started)} ms\n`)
    await migrate(url)
    await query(url, 'VACUUM ANALYZE auth_events_log')
    const after = await sizes(url, 'auth_events_log')
    process.stdout.write('\n| | bytes per event | of which indexes |\n| --- | --- | --- |\n')
    for (const [label, s] of [['unpartitioned (id PK, 3 indexes)', before], ['by day ((created_at, id) PK, 2 indexes)', after]] as const) {
      const indexBytes = Object.values(s.indexes).reduce((a, b) => a + b, 0)
      process.stdout.write(`| ${label} | ${perEvent(s.total)} | ${perEvent(indexBytes)}: ${Object.entries(s.indexes).map(([k, v]) => `${k} ${perEvent(v)}`).join(', ')} |\n`)
    }

    const db = openDatabase({ url, poolSize: 2 })
    try {
      const partition = (await listPartitions(db.prisma)).find((p) => p.from.getTime() === day.getTime())!
      const dropped = await dropPartition(db.prisma, partition)
      process.stdout.write(`\ndropping ${partition.name} (${dropped.rows} rows): ${dropped.ms.toFixed(1)} ms\n`)

      // Planning a user's history over every partition kept: 188 days (180 d retention, today, 7 ahead) or 28 weeks.
      for (let d = 1; d <= 180; d++) await createPartition(db.prisma, new Date(day.getTime() - d * DAY_MS))
      const count = (await listPartitions(db.prisma)).length
      const EXPLAIN = `EXPLAIN (ANALYZE, SUMMARY) SELECT created_at, type, outcome FROM auth_events
        WHERE user_id = md5('u1')::uuid ORDER BY created_at DESC LIMIT 50`
      const planned = (rows: { 'QUERY PLAN': string }[]) => Number(/Planning Time: ([\d.]+)/.exec(rows.map((r) => r['QUERY PLAN']).join('\n'))![1])
      const median = (times: number[]) => times.sort((a, b) => a - b)[times.length >> 1]!.toFixed(2)
      const plan = async () => {
        const cold: number[] = []
        for (let i = 0; i < 10; i++) cold.push(planned(await query(url, EXPLAIN)))
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        const warm: number[] = []
        try {
          for (let i = 0; i < 11; i++) warm.push(planned((await client.query<{ 'QUERY PLAN': string }>(EXPLAIN)).rows))
        } finally { await client.end() }
        return `${median(cold)} ms on a new connection, ${median(warm.slice(1))} ms on a warm one (medians of 10)`
      }
      process.stdout.write(`planning "this user's events, newest first" over ${count} day partitions: ${await plan()}\n`)
      process.stdout.write(`the audit writer, ${count} day partitions: ${await writer()}\n`)
      for (const p of (await listPartitions(db.prisma)).slice(0, count - 28)) await dropPartition(db.prisma, p)
      process.stdout.write(`... over 28 partitions (weekly over 180 days): ${await plan()}\n`)
      process.stdout.write(`the audit writer, 28 partitions: ${await writer()}\n`)
    } finally {
      await db.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
    await query(ADMIN_URL, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  }
}

await main()
