import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import pg from 'pg'
import { dropPartition, listPartitions, type DroppedPartition } from '../src/audit/partitions.js'
import { openDatabase } from '../src/db/database.js'
import { PRUNE_BATCH } from '../src/db/prune.js'
import { migrate } from '../src/db/migrate.js'
import { FakeWechat } from '../src/dev/fake-wechat.js'
import { spawnListening } from '../src/dev/spawn.js'
import { REST_RATIO, Pruner, type PruneCounts } from '../src/maintenance/pruner.js'
import { cpuMicros } from './cpu.js'
import { serviceEnv } from './keys.js'
import { FULL_DAY_AGO, seedScale } from './scale-seed.js'
import { scenarios, type Scenario } from './scenarios.js'
import { admin, withDatabase } from './database.js'

// `npm run bench:scale [-- --sessions N --seconds S --rest R]`: the service on empty tables, then on
// N seeded sessions (default 1 M) with their users, tokens and audit events
// (bench/scale-seed.ts); a prune pass under refresh load; the drop of one
// day's audit partition; bytes per row. One table on stdout, progress on
// stderr. See docs/operations.md, "Scaling".

const { values: args } = parseArgs({
  options: { sessions: { type: 'string', default: '1000000' }, seconds: { type: 'string', default: '8' }, rest: { type: 'string', default: String(REST_RATIO) } }
})
const SESSIONS = Number(args.sessions)
const SECONDS = Number(args.seconds)
/** The pruner's rest after each batch, as a multiple of the batch's time (its default unless --rest). */
const REST = Number(args.rest)
const LOAD = { connections: 32, warmupSeconds: 2 }
const DAY = 86_400
const APP = { appid: 'wxscale000000001', secret: 'scale-secret-0001' }
const ROUTES = ['GET /v1/me', 'POST /v1/auth/refresh', 'POST /v1/auth/login']
const log = (line: string): void => { process.stderr.write(`${line}\n`) }

/**
 * Expires one day of audit events as AUDIT_RETENTION does: the oldest day
 * partition (the seeded full day, one event per session) dropped by
 * src/audit/partitions.ts, with its size on disk before the drop.
 */
async function dropOldestDay (databaseUrl: string, client: pg.Client): Promise<DroppedPartition & { bytes: number }> {
  const db = openDatabase({ url: databaseUrl, poolSize: 1 })
  try {
    const [oldest] = await listPartitions(db.prisma)
    if (oldest === undefined) throw new Error('no audit partition to drop')
    const { rows: [r] } = await client.query<{ b: string }>(`SELECT pg_total_relation_size('audit_partitions."${oldest.name}"') AS b`)
    return { ...await dropPartition(db.prisma, oldest), bytes: Number(r!.b) }
  } finally {
    await db.close()
  }
}

type Service = Awaited<ReturnType<typeof spawnListening>>
interface Load { rps: number, p99: number, non2xx: number }

/** Fresh logins for every run: a refresh token is used once. */
const fixture = (service: Service, fake: FakeWechat) => scenarios.fixture(service.url, fake, APP.appid, LOAD.connections * 2)

async function run (
  service: Service, scenario: Scenario, fake: FakeWechat, seconds: number, during?: () => Promise<unknown>
): Promise<Load & { cpuUs: number }> {
  const { request } = scenario.build(await fixture(service, fake))
  await autocannon({ url: service.url, connections: LOAD.connections, duration: LOAD.warmupSeconds, requests: [request] })
  const pid = service.child.pid!
  const cpuBefore = cpuMicros(pid)
  const load = autocannon({
    url: service.url,
    connections: LOAD.connections,
    duration: during === undefined ? seconds : 3600,
    requests: [request]
  })
  if (during !== undefined) {
    await during()
    ;(load as unknown as autocannon.Instance).stop()
  }
  const result = await load
  return {
    rps: Math.round(result.requests.average),
    p99: result.latency.p99,
    non2xx: result.non2xx,
    cpuUs: Math.round((cpuMicros(pid) - cpuBefore) / Math.max(1, result.requests.total))
  }
}

async function cpuPerRequest (service: Service, fake: FakeWechat): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const scenario of scenarios.list().filter((s) => ROUTES.includes(s.name))) {
    log(`${scenario.name}: measuring...`)
    out.set(scenario.name, (await run(service, scenario, fake, SECONDS)).cpuUs)
  }
  return out
}

interface PassStats { rows: Record<keyof PruneCounts, number>, ms: Record<keyof PruneCounts, number>, totalMs: number }

/**
 * One prune pass as `npm run db:prune` runs it, timed per step, as if run
 * `agoDays` ago: the seeded due rows came due over the last 30 days, so a pass
 * 15 days ago takes about half of them, and a pass now the rest.
 */
async function prunePass (databaseUrl: string, agoDays: number): Promise<PassStats> {
  const db = openDatabase({ url: databaseUrl, poolSize: 2 })
  try {
    const now = () => Date.now() - agoDays * DAY * 1000
    const pruner = new Pruner(db, { sessionRetentionSeconds: 0, auditRetentionSeconds: 180 * DAY }, now, REST)
    const rows = { refreshTokens: 0, sessions: 0, authEvents: 0 }
    const ms = { refreshTokens: 0, sessions: 0, authEvents: 0 }
    const started = Date.now()
    let last = started
    await pruner.run((step, deleted) => {
      rows[step] += deleted
      const now = Date.now()
      ms[step] += now - last
      last = now
    })
    return { rows, ms, totalMs: Date.now() - started }
  } finally {
    await db.close()
  }
}

interface Bytes {
  session: number
  sessionWithTokens: number
  token: number
  event: number
  sessions: number
  tokens: number
  events: number
  eventBytes: number
  sessionBytes: number
}

/** Bytes per row, indexes and TOAST included: sessions with the legacy refresh_tokens; auth_events_log over all its partitions. */
async function bytes (client: pg.Client): Promise<Bytes> {
  const { rows: [r] } = await client.query<Record<string, string>>(`
    SELECT pg_total_relation_size('sessions') AS s, pg_total_relation_size('refresh_tokens') AS t,
           (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('auth_events_log') WHERE isleaf) AS e,
           (SELECT count(*) FROM sessions) AS ns, (SELECT count(*) FROM refresh_tokens) AS nt, (SELECT count(*) FROM auth_events_log) AS ne`)
  const [s, t, e, ns, nt, ne] = ['s', 't', 'e', 'ns', 'nt', 'ne'].map((k) => Number(r![k])) as [number, number, number, number, number, number]
  return {
    session: Math.round(s / ns),
    sessionWithTokens: Math.round((s + t) / ns),
    token: Math.round(t / Math.max(nt, 1)),
    event: Math.round(e / ne),
    sessions: ns,
    tokens: nt,
    events: ne,
    eventBytes: e,
    sessionBytes: s + t
  }
}

async function main (): Promise<void> {
  const dbName = `weapp_scale_${process.pid}`
  await admin(`CREATE DATABASE "${dbName}"`)
  const databaseUrl = withDatabase(dbName)
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-scale-'))
  const fake = new FakeWechat([APP])
  await fake.listen()
  const client = new pg.Client({ connectionString: databaseUrl })
  let service: Service | undefined
  try {
    await migrate(databaseUrl)
    await client.connect()
    log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; ${SESSIONS} sessions; ${LOAD.connections} connections, ${SECONDS} s per run; pruner rest ${REST} x each batch`)
    // The service never prunes by itself here: the pass below is the only one.
    service = await spawnListening('dist/server.js', { ...serviceEnv(APP, databaseUrl, fake.url, dataDir), PRUNE_INTERVAL: '0' })
    const empty = await cpuPerRequest(service, fake)
    await seedScale(client, SESSIONS, APP.appid, log)
    const seeded = await cpuPerRequest(service, fake)
    const size = await bytes(client)
    const refresh = scenarios.list().find((s) => s.name === 'POST /v1/auth/refresh')!
    log('prune pass on an idle service (the rows due 15 days ago)...')
    const idlePass = await prunePass(databaseUrl, 15)
    log('refresh load without a prune pass...')
    const alone = await run(service, refresh, fake, SECONDS)
    log('refresh load during a prune pass (the rest)...')
    let pass: PassStats | undefined
    const during = await run(service, refresh, fake, SECONDS, async () => { pass = await prunePass(databaseUrl, 0) })
    log(`audit: dropping the day ${FULL_DAY_AGO} days ago...`)
    const drop = await dropOldestDay(databaseUrl, client)
    report({ empty, seeded, size, alone, during, idlePass, pass: pass!, drop })
  } finally {
    service?.child.kill('SIGTERM')
    await client.end().catch(() => {})
    await fake.close()
    await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)
    await rm(dataDir, { recursive: true, force: true })
  }
}

interface Report {
  empty: Map<string, number>
  seeded: Map<string, number>
  size: Awaited<ReturnType<typeof bytes>>
  alone: Load
  during: Load
  idlePass: PassStats
  pass: PassStats
  drop: Awaited<ReturnType<typeof dropOldestDay>>
}

function report ({ empty, seeded, size, alone, during, idlePass, pass, drop }: Report): void {
  const mib = (b: number) => `${Math.round(b / 1048576)} MiB`
  const perSecond = (rows: number, ms: number) => `${Math.round(rows / Math.max(ms, 1) * 1000)} rows/s (${rows} rows, ${(ms / 1000).toFixed(1)} s)`
  const lines: [string, string][] = [
    ...ROUTES.map((route): [string, string] => [`${route}: CPU µs/request, empty -> ${SESSIONS} sessions`, `${empty.get(route)} -> ${seeded.get(route)}`]),
    [`prune, idle service (batches of ${PRUNE_BATCH}, rest ${REST} x batch): expired legacy refresh tokens`, perSecond(idlePass.rows.refreshTokens, idlePass.ms.refreshTokens)],
    ['prune, idle service: ended sessions (by refresh_expires_at, with their legacy tokens)', perSecond(idlePass.rows.sessions, idlePass.ms.sessions)],
    ['prune under refresh load: expired legacy refresh tokens', perSecond(pass.rows.refreshTokens, pass.ms.refreshTokens)],
    ['prune under refresh load: ended sessions', perSecond(pass.rows.sessions, pass.ms.sessions)],
    ['refresh req/s: alone -> during the pass', `${alone.rps} -> ${during.rps} (${Math.round((during.rps / Math.max(alone.rps, 1)) * 100)}%)`],
    ['refresh p99 ms: alone -> during the pass', `${alone.p99} -> ${during.p99}`],
    ['refresh non-2xx: alone, during', `${alone.non2xx}, ${during.non2xx}`],
    ['audit: drop one day\'s partition (dropPartition)', `${drop.ms.toFixed(1)} ms (${drop.rows} rows, ${mib(drop.bytes)})`],
    ['rows: sessions, legacy refresh tokens, audit events', `${size.sessions}, ${size.tokens}, ${size.events}`],
    ['bytes per session, with its legacy tokens', `${size.sessionWithTokens} (session ${size.session}, legacy token ${size.token}; ${mib(size.sessionBytes)})`],
    ['bytes per audit event (all partitions)', `${size.event} (${mib(size.eventBytes)})`]
  ]
  const width = Math.max(...lines.map(([k]) => k.length))
  const valueWidth = Math.max(...lines.map(([, v]) => v.length))
  process.stdout.write(`| ${'measure'.padEnd(width)} | ${'value'.padEnd(valueWidth)} |\n| ${'-'.repeat(width)} | ${'-'.repeat(valueWidth)} |\n`)
  for (const [k, v] of lines) process.stdout.write(`| ${k.padEnd(width)} | ${v.padEnd(valueWidth)} |\n`)
}

main().catch((error: Error) => {
  process.stderr.write(`bench:scale: ${error.stack ?? error.message}${error.cause === undefined ? '' : ` (${String(error.cause)})`}\n`)
  process.exitCode = 1
})
