import { randomBytes } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { Agent, request } from 'undici'
import { APP, ED25519_PEM, VAULT_KEYS, startFakeWechat, testDatabase } from '../helper.js'

// The built entry point, as `npm start` runs it (npm test builds first).
const SERVER = new URL('../../dist/server.js', import.meta.url).pathname
const DEMO = new URL('../../dist/cli/demo.js', import.meta.url).pathname

interface Run {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
  /** Its working directory and, unless the test gave one, its DATA_DIR: removed when the test ends. */
  dir: string
}

function run (t: Test, env: Record<string, string>, script = SERVER): Run {
  // A directory of its own, so development keys and embedded data never land in a shared place that outlives the run.
  const dir = mkdtempSync(join(tmpdir(), 'weapp-server-run-'))
  const child = spawn(process.execPath, [script], {
    // A clean environment: nothing from the developer's shell or .env leaks in.
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', DATA_DIR: join(dir, '.data'), ...env },
    cwd: dir
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    rmSync(dir, { recursive: true, force: true })
  })
  return { child, output: () => output, exited, dir }
}

/** Resolves when the process has printed text matching `pattern` (its log is the event). */
async function printed (server: Run, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const match = pattern.exec(server.output())
    if (match !== null) return match
    if (server.child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`never printed ${pattern}:\n${server.output()}`)
}

async function listening (server: Run): Promise<string> {
  return (await printed(server, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/))[1]!
}

t.test('a malformed DATABASE_URL stops the process with one clear message', async (t) => {
  const server = run(t, { DATABASE_URL: 'postgres//user:hunter2@localhost/db', PORT: 'x' })
  t.equal(await server.exited, 1)
  t.equal(server.output(), 'weapp-auth: invalid configuration (2 problems):\n' +
    '  - PORT: must be integer\n' +
    '  - DATABASE_URL: must be a URL of the form postgresql://user:password@host:5432/database\n' +
    'See .env.example for every setting.\n')
})

t.test('production without its required settings stops with every missing one listed', async (t) => {
  const server = run(t, { NODE_ENV: 'production' })
  t.equal(await server.exited, 1)
  t.match(server.output(), /^weapp-auth: invalid configuration \(4 problems\):/)
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace')
})

t.test('an unreachable database fails the start with a clear message after bounded retries', async (t) => {
  const server = run(t, { DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/db' })
  t.equal(await server.exited, 1)
  t.match(server.output(), /weapp-auth: failed to start: cannot reach the database at 127\.0\.0\.1:1\/db \(ECONNREFUSED\) after 5 attempts/)
  t.notMatch(server.output(), /\n\s+at /, 'no stack trace')
})

t.test('with DATABASE_URL it migrates, serves /readyz and drains on SIGTERM', async (t) => {
  const testDb = await testDatabase(t, { migrated: false })
  const server = run(t, { DATABASE_URL: testDb.url })
  const base = await listening(server)
  const folders = (await readdir(new URL('../../prisma/migrations/', import.meta.url), { withFileTypes: true })).filter((entry) => entry.isDirectory())
  t.ok(folders.length > 0)
  t.match(server.output(), new RegExp(`"applied ${folders.length} migration\\(s\\)"`), `as many migrations applied as prisma/migrations has folders (${folders.length})`)
  t.ok(existsSync(join(server.dir, '.data', 'dev-keys.json')), "development keys went to this run's own DATA_DIR (removed at teardown)")
  const ready = await request(`${base}/readyz`)
  t.equal(ready.statusCode, 200)
  t.same(await ready.body.json(), { status: 'ready' })
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0, 'graceful exit')
  t.match(server.output(), /SIGTERM received: draining in-flight requests/)
})

t.test('with nothing set it serves on an embedded database, the fake WeChat and generated keys, and the demo plays through', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-server-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const server = run(t, { DATA_DIR: dataDir })
  const base = await listening(server)
  t.match(server.output(), new RegExp(`no DATABASE_URL set: starting an embedded Postgres \\(PGlite\\), data kept in ${dataDir}/pglite`))
  t.match(server.output(), /no WECHAT_APPID set: logins go to the bundled fake WeChat at http:\/\/127\.0\.0\.1:\d+/)
  t.match(server.output(), new RegExp(`development keys generated in ${dataDir}/dev-keys.json`))
  t.equal((await request(`${base}/readyz`)).statusCode, 200)

  const demo = run(t, { DATA_DIR: dataDir, DEMO_SERVICE_URL: base }, DEMO)
  t.equal(await demo.exited, 0, demo.output())
  // Played through the client SDK: each wx call it made is printed.
  t.match(demo.output(), /wx\.login\(\) -> code \S{4}…\S{6}\n\s+wx\.request POST \/v1\/auth\/login -> 200\n\s+wx\.request GET \/v1\/me \[Bearer [^\]]+\] -> 200[\s\S]*isLoggedIn\(\): true[\s\S]*POST \/v1\/auth\/refresh -> 200[\s\S]*POST \/v1\/auth\/decrypt \[Bearer [^\]]+\] -> 200[\s\S]*POST \/v1\/auth\/phone \[Bearer [^\]]+\] -> 200[\s\S]*POST \/v1\/auth\/logout \[Bearer [^\]]+\] -> 204[\s\S]*wx\.login\(\) calls: 1; requests: 11 \(1 login, 1 refresh\)[\s\S]*demo finished/)
  t.notMatch(demo.output(), /eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/, 'tokens are masked in the demo output')

  server.child.kill('SIGINT')
  t.equal(await server.exited, 0)
  const again = run(t, { DATA_DIR: dataDir })
  await listening(again)
  t.match(again.output(), new RegExp(`development keys loaded from ${dataDir}/dev-keys.json`), 'keys are reused on the next start')
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})

t.test('DEMO_PLATFORM=all plays each platform through its own runtime and fake, zero-config', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-server-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const server = run(t, { DATA_DIR: dataDir })
  const base = await listening(server)
  const demo = run(t, { DATA_DIR: dataDir, DEMO_SERVICE_URL: base, DEMO_PLATFORM: 'all' }, DEMO)
  t.equal(await demo.exited, 0, demo.output())
  const output = demo.output()
  // Each runtime logs in once with its own code call, refreshes once for three requests, and logs out.
  const runtimes: Array<[api: string, login: string]> = [['wx', 'login'], ['qq', 'login'], ['tt', 'login'], ['swan', 'getLoginCode'], ['my', 'getAuthCode'], ['ks', 'login']]
  for (const [api, login] of runtimes) {
    t.match(output, new RegExp(`${api}\\.request POST /v1/auth/login -> 200[\\s\\S]*?${api}\\.request POST /v1/auth/refresh -> 200` +
      `[\\s\\S]*?${api}\\.request POST /v1/auth/logout \\[Bearer [^\\]]+\\] -> 204[\\s\\S]*?${api}\\.${login}\\(\\) calls: 1; requests: \\d+ \\(1 login, 1 refresh\\)`), api)
  }
  t.notMatch(output, /-> (4|5)\d\d/, 'no call of any platform was refused')
  t.match(output, /demo finished\s*$/)
  server.child.kill('SIGTERM')
  t.equal(await server.exited, 0)
})

t.test('SIGTERM drains in-flight requests before exiting; their answers say Connection: close', async (t) => {
  const testDb = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const server = run(t, {
    DATABASE_URL: testDb.url,
    WECHAT_APPID: APP.appid,
    WECHAT_SECRET: APP.secret,
    WECHAT_API_BASE: fake.url,
    JWT_PRIVATE_KEY: ED25519_PEM,
    SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS
  })
  const base = await listening(server)
  // A keep-alive connection, as a client or load balancer keeps: it must be let go, not waited out.
  const agent = new Agent({ keepAliveTimeout: 60_000 })
  t.teardown(() => agent.close())
  t.equal((await request(`${base}/healthz`, { dispatcher: agent })).headers.connection, 'keep-alive', 'before the drain: keep-alive')
  const held = fake.hold()
  const inFlight = request(`${base}/v1/auth/login`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: fake.login(APP.appid, 'alice').code }) })
  await held.arrived
  server.child.kill('SIGTERM')
  await printed(server, /SIGTERM received: draining in-flight requests/)
  held.release()
  const res = await inFlight
  t.equal(res.statusCode, 200, 'the login WeChat was still answering finished')
  t.match(await res.body.json(), { tokenType: 'Bearer' })
  t.equal(res.headers.connection, 'close', 'its answer tells the client to let the connection go')
  t.equal(await server.exited, 0, server.output())
  await t.rejects(request(`${base}/healthz`), 'no longer listening')
})

t.test('the demo refuses production', async (t) => {
  const demo = run(t, { NODE_ENV: 'production', DATABASE_URL: 'postgresql://x@127.0.0.1:1/x', WECHAT_APPID: 'wx1', WECHAT_SECRET: 's', JWT_SECRET: randomBytes(32).toString('base64'), SESSION_KEY_ENCRYPTION_KEYS: Buffer.alloc(32).toString('base64') }, DEMO)
  t.equal(await demo.exited, 1)
  t.match(demo.output(), /refuses to run with NODE_ENV=production/)
})
