import { spawn } from 'node:child_process'
import autocannon from 'autocannon'
import { cpuMicros } from './cpu.js'

// `npm run bench:overhead`: what each cross-cutting feature costs a bare
// Fastify route, alone, under the same load as `npm run bench`. This is how the
// changes noted in docs/performance.md were chosen.

const VARIANTS: [string, string][] = [
  ['bare', ''],
  ['+ EdDSA verify (fast-jwt cache on)', 'jwt'],
  ['+ helmet middleware per request', 'helmet-per-request'],
  ['+ precomputed security headers', 'static-headers'],
  ['+ rate limit, headers on every response', 'rate-limit-headers'],
  ['+ rate limit, headers on 429 only', 'rate-limit'],
  ['+ log line, wildcard redaction', 'redact-wildcards'],
  ['+ log line, exact-path redaction', 'log'],
  ['+ Prometheus HTTP histogram (METRICS_PORT set)', 'metrics'],
  ['all, as src/ does now (metrics off)', 'jwt,static-headers,rate-limit,log'],
  ['all, as src/ does now (metrics on)', 'jwt,static-headers,rate-limit,log,metrics']
]

async function measure (features: string): Promise<{ rps: number, cpuPerRequest: number }> {
  const child = spawn(process.execPath, ['bench/overhead-server.mjs'], { env: { PATH: process.env.PATH, FEATURES: features }, stdio: ['ignore', 'pipe', 'inherit'] })
  const [url, token] = await new Promise<[string, string]>((resolve) => {
    child.stdout.on('data', (chunk) => {
      const match = /listening (\S+) token (\S+)/.exec(String(chunk))
      if (match !== null) resolve([match[1]!, match[2]!])
    })
  })
  const options = { url: `${url}/hello`, connections: 32, headers: { authorization: `Bearer ${token}` } }
  await autocannon({ ...options, duration: 2 })
  const before = cpuMicros(child.pid!)
  const result = await autocannon({ ...options, duration: 8 })
  const cpuPerRequest = (cpuMicros(child.pid!) - before) / result.requests.total
  child.kill()
  return { rps: result.requests.average, cpuPerRequest }
}

// Throughput on a shared 2-core box swings by a third from run to run; the
// server's own CPU time per request is the steadier measure of a feature's cost.
let bare = 0
process.stdout.write('| variant | req/s | % of bare | server CPU µs/request |\n| --- | --- | --- | --- |\n')
for (const [name, features] of VARIANTS) {
  const { rps, cpuPerRequest } = await measure(features)
  if (features === '') bare = rps
  process.stdout.write(`| ${name} | ${Math.round(rps)} | ${Math.round((rps / bare) * 1000) / 10}% | ${Math.round(cpuPerRequest)} |\n`)
}
