import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import { FakeWechat } from '../src/dev/fake-wechat.js'
import { spawnListening } from '../src/dev/spawn.js'
import { cpuMicros } from './cpu.js'
import { serviceEnv } from './keys.js'
import { PgWireCounter } from './pg-wire-counter.js'
import { scenarios } from './scenarios.js'
import { admin, withDatabase } from './database.js'

// `npx tsx bench/refresh-ab.ts --base DIR [--rounds 3 --seconds 8 --rate R --route NAME]`:
// service CPU per request of one route, this build (dist/) against another
// built checkout (DIR/dist/, e.g. a `git worktree add /tmp/base <commit>` with
// its own `npm ci && npm run build`), each on its own database, measured
// alternately in one run (A B, B A, A B...), the median per build; also the
// database round trips and the response bytes per request of each. CPU per
// request grows as throughput falls (fewer requests share each wake-up of the
// event loop), and on a shared machine throughput moves: --rate R holds both
// builds at R requests/s, below what either serves, so they compare at equal load.

const { values: args } = parseArgs({
  options: { base: { type: 'string' }, rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '8' }, route: { type: 'string', default: 'POST /v1/auth/refresh' }, rate: { type: 'string' } }
})
if (args.base === undefined) throw new Error('--base DIR: a built checkout to compare with')
const LOAD = {
  connections: 32,
  warmupSeconds: 2,
  seconds: Number(args.seconds),
  ...(args.rate === undefined ? {} : { overallRate: Number(args.rate) })
}
const APP = { appid: 'wxrefreshab00001', secret: 'refresh-ab-secret' }
const log = (line: string): void => { process.stderr.write(`${line}\n`) }
const scenario = scenarios.list().find((s) => s.name === args.route)
if (scenario === undefined) throw new Error(`no scenario ${args.route}`)

interface Build {
  label: string
  dir: string
  databaseUrl: string
  url: string
  pid: number
  stop: () => void
  cpu: number[]
  rps: number[]
  roundTrips: number
  bytes: number
}

async function start (label: string, dir: string, fake: FakeWechat, dataDir: string, dbName: string): Promise<Build> {
  await admin(`CREATE DATABASE "${dbName}"`)
  const databaseUrl = withDatabase(dbName)
  const { migrate } = await import(join(dir, 'dist/db/migrate.js')) as { migrate: (url: string) => Promise<unknown> }
  await migrate(databaseUrl)
  // Round trips and response bytes: 100 sequential requests through a counting relay.
  const relayed = new URL(databaseUrl)
  const counter = new PgWireCounter({ host: relayed.hostname, port: Number(relayed.port || 5432) })
  relayed.port = String(await counter.listen())
  const counted = await spawnListening(join(dir, 'dist/server.js'), serviceEnv(APP, relayed.toString(), fake.url, join(dataDir, `${label}-count`)))
  let roundTrips = 0
  let bytes = 0
  try {
    const { request } = scenario!.build(await scenarios.fixture(counted.url, fake, APP.appid, 4))
    await autocannon({ url: counted.url, connections: 1, amount: 20, requests: [request] })
    const before = counter.roundTrips
    const result = await autocannon({ url: counted.url, connections: 1, amount: 100, requests: [request] })
    if (result.non2xx > 0) throw new Error(`${label}: ${result.non2xx} non-2xx while counting`)
    roundTrips = (counter.roundTrips - before) / result.requests.total
    bytes = Math.round(result.throughput.total / result.requests.total)
  } finally {
    counted.child.kill('SIGTERM')
    await counter.close()
  }
  const service = await spawnListening(join(dir, 'dist/server.js'), serviceEnv(APP, databaseUrl, fake.url, join(dataDir, label)))
  return { label, dir, databaseUrl, url: service.url, pid: service.child.pid!, stop: () => service.child.kill('SIGTERM'), cpu: [], rps: [], roundTrips, bytes }
}

async function measure (build: Build, fake: FakeWechat): Promise<void> {
  const { request } = scenario!.build(await scenarios.fixture(build.url, fake, APP.appid, LOAD.connections * 2))
  await autocannon({ url: build.url, connections: LOAD.connections, duration: LOAD.warmupSeconds, requests: [request] })
  const before = cpuMicros(build.pid)
  const result = await autocannon({
    url: build.url,
    connections: LOAD.connections,
    duration: LOAD.seconds,
    ...(LOAD.overallRate === undefined ? {} : { overallRate: LOAD.overallRate }),
    requests: [request]
  })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${build.label}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  build.cpu.push(Math.round((cpuMicros(build.pid) - before) / Math.max(1, result.requests.total)))
  build.rps.push(Math.round(result.requests.average))
  log(`${build.label}: ${build.cpu.at(-1)} µs CPU per request, ${build.rps.at(-1)} req/s`)
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main (): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-ab-'))
  const fake = new FakeWechat([APP])
  await fake.listen()
  const builds: Build[] = []
  try {
    builds.push(await start('this', resolve('.'), fake, dataDir, `weapp_ab_this_${process.pid}`))
    builds.push(await start('base', resolve(args.base!), fake, dataDir, `weapp_ab_base_${process.pid}`))
    for (let round = 0; round < Number(args.rounds); round++) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) await measure(build, fake)
    }
    process.stdout.write(`${args.route}, ${LOAD.connections} connections${args.rate === undefined ? '' : ` at ${args.rate} req/s`}, ${LOAD.seconds} s per run, ${args.rounds} rounds alternating\n`)
    for (const b of builds) {
      process.stdout.write(`${b.label.padEnd(4)} ${b.dir}: CPU µs/request median ${median(b.cpu)} (${b.cpu.join(', ')}), req/s median ${median(b.rps)}, db round trips ${b.roundTrips.toFixed(2)}, response ${b.bytes} B\n`)
    }
  } finally {
    for (const b of builds) b.stop()
    await fake.close()
    for (const b of builds) await admin(`DROP DATABASE IF EXISTS "${new URL(b.databaseUrl).pathname.slice(1)}" WITH (FORCE)`)
    await rm(dataDir, { recursive: true, force: true })
  }
}

main().catch((error: Error) => {
  process.stderr.write(`refresh-ab: ${error.stack ?? error.message}\n`)
  process.exitCode = 1
})
