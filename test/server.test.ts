import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { readMigrations } from '../src/db/migrate.js'
import { request } from 'undici'
import { APP, ED25519_PEM, VAULT_KEYS, startFakeWechat, testDatabase } from './helper.js'

// The built entry point, as `npm start` runs it (npm test builds first).
const SERVER = new URL('../dist/server.js', import.meta.url).pathname
const DEMO = new URL('../dist/cli/demo.js', import.meta.url).pathname

interface Run {
  child: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

function run (t: Test, env: Record<string, string>, script = SERVER): Run {
  const child = spawn(process.execPath, [script], {
    // A clean environment: nothing from the developer's shell or .env leaks in.
    env: { PATH: process.env.PATH, PORT: '0', LOG_LEVEL: 'info', ...env },
    cwd: tmpdir()
  })
  let output = ''
  child.stdout.on('data', (chunk) => { output += String(chunk) })
  child.stderr.on('data', (chunk) => { output += String(chunk) })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => { child.kill('SIGKILL') })
  return { child, output: () => output, exited }
}

async function listening (server: Run, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())
    if (match !== null) return match[1]!
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`server did not start:\n${server.output()}`)
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
  const db = await testDatabase(t, { migrated: false })
  const server = run(t, { DATABASE_URL: db.url })
  const base = await listening(server)
  const migrations = await readMigrations()
  t.match(server.output(), new RegExp(`applied ${migrations.length} migration`), 'every migration in prisma/migrations')
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

t.test('SIGTERM drains in-flight requests before exiting', async (t) => {
  const db = await testDatabase(t)
  const fake = await startFakeWechat(t)
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-drain-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const server = run(t, {
    DATABASE_URL: db.url,
    DATA_DIR: dataDir,
    WECHAT_APPID: APP.appid,
    WECHAT_SECRET: APP.secret,
    WECHAT_API_BASE: fake.url,
    JWT_PRIVATE_KEY: ED25519_PEM,
    SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS
  })
  const base = await listening(server)
  fake.setFault({ delayMs: 1500, times: 1 })
  const inFlight = request(`${base}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: fake.login(APP.appid, 'alice').code }) })
  await new Promise((resolve) => setTimeout(resolve, 300))
  server.child.kill('SIGTERM')
  const res = await inFlight
  t.equal(res.statusCode, 200, 'the slow login finished')
  t.match(await res.body.json(), { tokenType: 'Bearer' })
  t.equal(await server.exited, 0, server.output())
  await t.rejects(request(`${base}/healthz`), 'no longer listening')
})

t.test('the demo refuses production', async (t) => {
  const demo = run(t, { NODE_ENV: 'production', DATABASE_URL: 'postgresql://x@127.0.0.1:1/x', WECHAT_APPID: 'wx1', WECHAT_SECRET: 's', JWT_SECRET: 'k9Qf2Lx7Zp4Wm8Rt1Vb6Nc3Hy5Jd0Gs2', SESSION_KEY_ENCRYPTION_KEYS: Buffer.alloc(32).toString('base64') }, DEMO)
  t.equal(await demo.exited, 1)
  t.match(demo.output(), /refuses to run with NODE_ENV=production/)
})
