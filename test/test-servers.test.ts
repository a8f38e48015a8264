import { spawnSync } from 'node:child_process'
import t from 'tap'
import { decideServer, inCi, type SharedServer } from './helpers/services.js'

// The harness's own rule: an unreachable PostgreSQL or Redis must not let a CI
// run pass on the embedded database (one connection: race tests run serially).

const POSTGRES: SharedServer = { name: 'PostgreSQL', variable: 'TEST_DATABASE_URL', url: 'postgresql://postgres:hunter2@db.example:5432/postgres', fallback: 'the embedded database (PGlite)' }
const REDIS: SharedServer = { name: 'Redis', variable: 'TEST_REDIS_URL', url: 'redis://127.0.0.1:6379' }

t.test('a reachable server is used, in CI or not', async (t) => {
  for (const env of [{}, { CI: 'true' }]) {
    t.same(decideServer(env, POSTGRES, true), { use: 'server' })
    t.same(decideServer(env, REDIS, true), { use: 'server' })
  }
})

t.test('CI=true and PostgreSQL unreachable: a loud failure naming TEST_DATABASE_URL, no fallback', async (t) => {
  t.throws(() => decideServer({ CI: 'true' }, POSTGRES, false), /PostgreSQL is not reachable at .*\(set TEST_DATABASE_URL to where it runs\)\. CI=true: refusing to fall back/)
  t.throws(() => decideServer({ CI: '1' }, POSTGRES, false), /TEST_DATABASE_URL/)
  t.throws(() => decideServer({ CI: 'true' }, POSTGRES, false), { message: /^(?!.*hunter2)/ }, 'the password is not printed')
})

t.test('outside CI, PostgreSQL unreachable: the embedded database, with a warning that says what is lost', async (t) => {
  for (const env of [{}, { CI: 'false' }, { CI: '' }]) {
    const decision = decideServer(env, POSTGRES, false)
    t.match(decision, { use: 'fallback', warning: /^warning: PostgreSQL is not reachable .*TEST_DATABASE_URL.*falling back to the embedded database/ }, JSON.stringify(env))
  }
})

t.test('Redis unreachable fails with TEST_REDIS_URL named, in CI and elsewhere (there is no fallback)', async (t) => {
  t.throws(() => decideServer({ CI: 'true' }, REDIS, false), /Redis is not reachable at redis:\/\/127\.0\.0\.1:6379 \(set TEST_REDIS_URL to where it runs\)/)
  t.throws(() => decideServer({}, REDIS, false), /TEST_REDIS_URL/)
})

t.test('what counts as CI', async (t) => {
  t.ok(inCi({ CI: 'true' }))
  t.ok(inCi({ CI: 'TRUE' }))
  t.ok(inCi({ CI: '1' }))
  t.notOk(inCi({}))
  t.notOk(inCi({ CI: 'false' }))
  t.notOk(inCi({ CI: '0' }))
})

// The helper itself, end to end: a test file run with both servers pointed at a closed port.
const PROBE = `
import t from 'tap'
import { build, redisNamespace } from './test/helper.ts'
t.test('db', async (t) => { await build(t); t.pass('built') })
t.test('redis', async (t) => { await redisNamespace(t); t.pass('namespaced') })
`

function runProbe (env: Record<string, string>): { status: number | null, output: string } {
  // tap's own TypeScript loader, not `tsx`: a child that transpiles src/ another way
  // reports coverage tap cannot merge with the test processes' (src/errors.ts came out 62%).
  const result = spawnSync(process.execPath, ['--import', '@tapjs/typescript/import', '--input-type=module', '-e', PROBE], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { PATH: process.env.PATH, TS_NODE_TRANSPILE_ONLY: '1', TEST_DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/postgres', TEST_REDIS_URL: 'redis://127.0.0.1:1', ...env },
    encoding: 'utf8',
    timeout: 100_000
  })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

t.test('helper.ts under CI=true with nothing listening: every test fails, naming the variable', async (t) => {
  const { status, output } = runProbe({ CI: 'true' })
  t.not(status, 0, 'the run fails')
  t.match(output, /PostgreSQL is not reachable at postgresql:\/\/postgres@127\.0\.0\.1:1\/postgres \(set TEST_DATABASE_URL/)
  t.match(output, /Redis is not reachable at redis:\/\/127\.0\.0\.1:1 \(set TEST_REDIS_URL/)
  t.notMatch(output, / - built/, 'no test ran on the embedded database')
})
