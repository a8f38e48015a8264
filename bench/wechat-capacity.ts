import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { Agent, request } from 'undici'
import { migrate } from '../src/db/migrate.js'
import { FakeWechat } from '../src/dev/fake-wechat.js'
import { spawnListening } from '../src/dev/spawn.js'
import { cpuMicros } from './cpu.js'
import { serviceEnv } from './keys.js'

// `npm run bench:wechat`: how many logins can wait on a slow WeChat at once.
// WeChat (the fake) answers every jscode2session after WECHAT_DELAY_MS; bursts
// of N simultaneous logins hit the service (default settings: 256 connections
// to WeChat, 1024 admitted) and the answers are counted. See docs/operations.md, "Deploying".

const APP = { appid: 'wxbench000000002', secret: 'bench-secret-0002' }
const DELAY_MS = Number(process.env.WECHAT_DELAY_MS ?? 2500)
const BURSTS = (process.env.BURSTS ?? '100,300,1000,1500,3000').split(',').map(Number)
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

async function admin (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

async function peakRssMb (pid: number): Promise<number> {
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  return Math.round(kb / 1024)
}

async function main (): Promise<void> {
  const dbName = `weapp_bench_wechat_${process.pid}`
  await admin(`CREATE DATABASE "${dbName}"`)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${dbName}`
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-bench-'))
  const fake = new FakeWechat([APP])
  await fake.listen()
  const agent = new Agent({ connections: Math.max(...BURSTS) + 10, headersTimeout: 60_000, bodyTimeout: 60_000 })
  let service: Awaited<ReturnType<typeof spawnListening>> | undefined
  try {
    await migrate(url.toString())
    service = await spawnListening('dist/server.js', serviceEnv(APP, url.toString(), fake.url, dataDir))
    process.stdout.write(`WeChat answers after ${DELAY_MS} ms; service defaults: WECHAT_TIMEOUT_MS 5000, WECHAT_MAX_CONNECTIONS 256, WECHAT_MAX_PENDING 1024\n\n`)
    process.stdout.write('| burst | 200 | 503 WECHAT_OVERLOADED | other | slowest ms | CPU µs/login | service peak RSS MB |\n| --- | --- | --- | --- | --- | --- | --- |\n')
    fake.setFault({ delayMs: DELAY_MS })
    for (const burst of BURSTS) {
      const codes = Array.from({ length: burst }, (_v, i) => fake.login(APP.appid, `burst-${burst}-${i}`).code)
      const cpuBefore = cpuMicros(service.child.pid!)
      const started = Date.now()
      let slowest = 0
      const statuses = await Promise.all(codes.map(async (code) => {
        const res = await request(`${service!.url}/v1/auth/login`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })
        const body = await res.body.json() as { code?: string }
        slowest = Math.max(slowest, Date.now() - started)
        return res.statusCode === 503 && body.code === 'WECHAT_OVERLOADED' ? 'overloaded' : String(res.statusCode)
      }))
      const cpu = Math.round((cpuMicros(service.child.pid!) - cpuBefore) / burst)
      const count = (s: string): number => statuses.filter((x) => x === s).length
      const other = burst - count('200') - count('overloaded')
      process.stdout.write(`| ${burst} | ${count('200')} | ${count('overloaded')} | ${other} | ${slowest} | ${cpu} | ${await peakRssMb(service.child.pid!)} |\n`)
    }
  } finally {
    service?.child.kill('SIGTERM')
    await agent.close()
    await fake.close()
    await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)
    await rm(dataDir, { recursive: true, force: true })
  }
}

main().catch((error: Error) => {
  process.stderr.write(`bench: ${error.message}\n`)
  process.exitCode = 1
})
