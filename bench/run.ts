import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { migrate } from '../src/db/migrate.js'
import { FakeWechat } from '../src/dev/fake-wechat.js'
import { spawnListening } from '../src/dev/spawn.js'
import { auditCost, type AuditCost } from './audit-cost.js'
import { cpuMicros } from './cpu.js'
import { ED25519_PEM, VAULT_KEYS, serviceEnv } from './keys.js'
import { PgWireCounter } from './pg-wire-counter.js'
import { scenarios, type Fixture, type Scenario } from './scenarios.js'
import { admin, ADMIN_URL, withDatabase } from './database.js'

// `npm run bench`: every route under the same fixed load, side by side with a
// bare Fastify "hello" measured in the same run. See docs/performance.md.

const LOAD = { connections: 32, durationSeconds: 8, warmupSeconds: 2 }
const ROUND_TRIP_SAMPLES = 100
const APP = { appid: 'wxbench000000001', secret: 'bench-secret-0001' }
const json = process.argv.includes('--json')
const log = (line: string): void => { if (!json) process.stderr.write(`${line}\n`) }

interface Row {
  route: string
  /** The service's CPU per request over its floor's, when the route has one. */
  vsFloor: number | null
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  ratio: number
  roundTrips: number | null
  /** CPU time the serving process spent per request (steadier than req/s on a shared box). */
  cpuPerRequestUs: number
  /** Peak RSS of the service once this route's run ended (the bare row: the bare process). */
  peakRssMb: number
}

/** VmHWM is the peak resident set size of the process so far. */
async function peakRssMb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
  return Math.round(kb / 1024)
}

async function load (url: string, built: { request: autocannon.Request }, durationSeconds: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: LOAD.connections, duration: durationSeconds, requests: [built.request] })
}

/** Sequential requests through the counting relay: database round trips per request, per route. */
async function countRoundTrips (list: Scenario[], databaseUrl: string, fake: FakeWechat, dataDir: string): Promise<Map<string, number>> {
  const target = new URL(databaseUrl)
  const counter = new PgWireCounter({ host: target.hostname, port: Number(target.port || 5432) })
  target.port = String(await counter.listen())
  const service = await spawnListening('dist/server.js', serviceEnv(APP, target.toString(), fake.url, dataDir))
  const counts = new Map<string, number>()
  try {
    const fixture = await scenarios.fixture(service.url, fake, APP.appid, 40)
    for (const scenario of list) {
      if (scenario.target !== 'service') continue
      const built = scenario.build(fixture)
      const result = await autocannon({ url: service.url, connections: 1, amount: 20, requests: [built.request] })
      if (result.non2xx > 0) throw new Error(`${scenario.name}: ${result.non2xx} failures while warming up`)
      const before = counter.roundTrips
      const measured = await autocannon({ url: service.url, connections: 1, amount: ROUND_TRIP_SAMPLES, requests: [built.request] })
      counts.set(scenario.name, (counter.roundTrips - before) / measured.requests.total)
    }
  } finally {
    service.child.kill('SIGTERM')
    await counter.close()
  }
  return counts
}

async function main (): Promise<void> {
  const dbName = `weapp_bench_${process.pid}`
  await admin(`CREATE DATABASE "${dbName}"`).catch((error: Error) => {
    throw new Error(`cannot create a database at ${new URL(ADMIN_URL).host} (${error.message}); set BENCH_DATABASE_URL to a Postgres the bench may create databases on`)
  })
  const databaseUrl = withDatabase(dbName)
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-bench-'))
  const fake = new FakeWechat([APP])
  await fake.listen()
  const children: ChildProcess[] = []
  try {
    await migrate(databaseUrl)
    log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`)
    log(`load: ${LOAD.connections} connections, ${LOAD.warmupSeconds} s warm-up + ${LOAD.durationSeconds} s measured per route`)
    const list = scenarios.list()

    log('counting database round trips per route...')
    const roundTrips = await countRoundTrips(list, databaseUrl, fake, dataDir)

    const bare = await spawnListening('bench/bare-server.mjs', { PATH: process.env.PATH })
    children.push(bare.child)
    const floor = await spawnListening('bench/floor-server.mjs', { PATH: process.env.PATH, DATABASE_URL: databaseUrl, JWT_PRIVATE_KEY: ED25519_PEM, SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS })
    children.push(floor.child)
    const service = await spawnListening('dist/server.js', serviceEnv(APP, databaseUrl, fake.url, dataDir))
    children.push(service.child)
    const processes = { bare, floor, service }
    const fixture: Fixture = await scenarios.fixture(service.url, fake, APP.appid, LOAD.connections * 4)

    const rows: Row[] = []
    let bareRps = 0
    for (const scenario of list) {
      const built = scenario.build(fixture)
      const target = processes[scenario.target]
      log(`${scenario.name}: warm-up...`)
      await load(target.url, built, LOAD.warmupSeconds)
      log(`${scenario.name}: measuring...`)
      const server = target.child.pid!
      const cpuBefore = cpuMicros(server)
      const result = await load(target.url, built, LOAD.durationSeconds)
      const cpuPerRequestUs = Math.round((cpuMicros(server) - cpuBefore) / Math.max(1, result.requests.total))
      if (scenario.target === 'bare') bareRps = result.requests.average
      const floorRow = rows.find((row) => row.route === scenario.floor)
      rows.push({
        route: scenario.name,
        vsFloor: floorRow === undefined ? null : Math.round((cpuPerRequestUs / floorRow.cpuPerRequestUs) * 100) / 100,
        rps: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors + result.timeouts,
        non2xx: result.non2xx,
        ratio: bareRps === 0 ? 0 : Math.round((result.requests.average / bareRps) * 1000) / 10,
        roundTrips: roundTrips.get(scenario.name) ?? null,
        cpuPerRequestUs,
        peakRssMb: await peakRssMb(server)
      })
    }
    const rss = await peakRssMb(service.child.pid!)
    log('audit trail: writing events...')
    report(rows, rss, await auditCost(databaseUrl))
  } finally {
    for (const child of children) child.kill('SIGTERM')
    await fake.close()
    await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)
    await rm(dataDir, { recursive: true, force: true })
  }
}

function report (rows: Row[], peakRss: number, audit: AuditCost): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, load: LOAD, peakRssMb: peakRss, routes: rows, audit }, null, 2)}\n`)
    return
  }
  const header = ['route', 'CPU µs/req', 'x floor', 'req/s', '% of bare', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'db round trips', 'peak RSS MB']
  const lines = rows.map((r) => [r.route, String(r.cpuPerRequestUs), r.vsFloor === null ? '-' : `${r.vsFloor}x`, String(r.rps), `${r.ratio}%`, String(r.p50), String(r.p99),
    String(r.errors), String(r.non2xx), r.roundTrips === null ? '-' : r.roundTrips.toFixed(2), String(r.peakRssMb)])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const format = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  process.stdout.write(`${[format(header), format(widths.map((w) => '-'.repeat(w))), ...lines.map(format)].join('\n')}\n`)
  process.stdout.write(`peak RSS of the service: ${peakRss} MB\n`)
  const share = (route: string) => {
    const row = rows.find((r) => r.route === `POST /v1/auth/${route}`)
    return row === undefined ? '' : `, ${Math.round((audit.cpuPerEventUs / row.cpuPerRequestUs) * 1000) / 10}% of ${route}'s CPU per request`
  }
  process.stdout.write(`audit trail: ${audit.cpuPerEventUs} µs CPU per event (record + its share of a ${audit.batch}-row INSERT)${share('login')}${share('refresh')}; ` +
    `${audit.msPerBatch} ms per ${audit.batch}-row INSERT (${audit.events} events)\n`)
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`)
  process.exitCode = 1
})
