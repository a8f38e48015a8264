import { execFileSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import vm from 'node:vm'
import { parse } from 'acorn'
import t from 'tap'
import { authError, device, serve } from '../helpers/client.js'
import { repoFile, runCommonJs } from '../helpers/miniprogram.js'

// What ships: client/dist (ESM, CommonJS, types) and client/miniprogram_dist
// (CommonJS for WeChat DevTools' "build npm"), built by the root npm run build.

const clientDir = new URL('../../client/', import.meta.url)
const source = (file: string): Promise<string> => repoFile(`client/${file}`)
const loadCommonJs = (code: string, globals: Record<string, unknown>) => runCommonJs(code, 'miniprogram_dist/index.js', globals)

t.test('miniprogram_dist/index.js runs where there is no Node: a wx global and timers, no require, no process', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const logged: unknown[] = []
  const { exports, context } = loadCommonJs(await source('miniprogram_dist/index.js'), {
    wx,
    setTimeout,
    clearTimeout,
    console: {
      log: (...args: unknown[]) => logged.push(args),
      warn: (...args: unknown[]) => logged.push(args),
      error: (...args: unknown[]) => logged.push(args)
    }
  })
  t.equal(vm.runInContext('[typeof require, typeof process, typeof Buffer, typeof atob].join()', context), 'undefined,undefined,undefined,undefined')
  t.same(Object.keys(exports).sort(), ['AuthError', 'createAuthClient'])

  const auth = exports.createAuthClient({ baseUrl: served.url })
  const me = await auth.request({ url: '/v1/me' })
  t.equal(me.statusCode, 200, 'the global wx is the default')
  t.equal(wx.calls.login, 1)
  const error = await auth.phone('not-a-phone-code').catch((e: unknown) => e)
  t.ok(error instanceof exports.AuthError, 'rejects with its own AuthError')
  t.match(error, authError('PHONE_CODE_INVALID', 400))
  t.same(logged, [], 'logged nothing')
})

t.test('without a wx global and without options.wx, createAuthClient says so', async (t) => {
  const { exports } = loadCommonJs(await source('miniprogram_dist/index.js'), {})
  t.throws(() => exports.createAuthClient({ baseUrl: 'https://auth.example.com' }), /no wx/)
})

t.test('every build is ES2017 syntax (acorn, ecmaVersion 2017): no ?., ??, object spread, class fields, optional catch binding', async (t) => {
  for (const [file, sourceType] of [['miniprogram_dist/index.js', 'script'], ['dist/index.cjs', 'script'], ['dist/index.js', 'module']] as const) {
    const code = await source(file)
    t.doesNotThrow(() => parse(code, { ecmaVersion: 2017, sourceType }), file)
  }
  for (const later of ['a?.b', 'a ?? b', '({ ...a })', 'class A { x = 1 }', 'try {} catch {}', 'async function* f () {}']) {
    t.throws(() => parse(later, { ecmaVersion: 2017 }), { name: 'SyntaxError' }, `the check catches ${later}`)
  }
})

t.test('dist/index.cjs loads with require, dist/index.js with import: the same API', async (t) => {
  const cjs = createRequire(import.meta.url)('../../client/dist/index.cjs') as Record<string, unknown>
  const esm = await import('../../client/dist/index.js') as Record<string, unknown>
  t.same(Object.keys(cjs).sort(), ['AuthError', 'createAuthClient'])
  t.same(Object.keys(esm).sort(), ['AuthError', 'createAuthClient'])
  t.equal(typeof cjs.createAuthClient, 'function')
})

t.test("attack: miniprogram_dist/index.js loads with Node's require (CommonJS inside a \"type\": \"module\" package)", async (t) => {
  // A plain node, from a script file: tap hands its loaders to child processes through their
  // environment (env -i drops them), and -p's globals would hide the failure.
  const file = new URL('miniprogram_dist/index.js', clientDir).pathname
  const script = join(t.testdir(), 'require.cjs')
  await writeFile(script, `process.stdout.write(Object.keys(require(${JSON.stringify(file)})).sort().join())`)
  const keys = execFileSync('env', ['-i', process.execPath, script], { encoding: 'utf8' })
  t.equal(keys.trim(), 'AuthError,createAuthClient')
})

t.test('miniprogram_dist/index.js stays under 4 KB (4096 bytes) minified and gzipped, measured as client/README.md says', async (t) => {
  // `npx esbuild client/miniprogram_dist/index.js --minify | gzip -9`: esbuild ships with tsx, gzip with the system.
  const esbuild = new URL('../../node_modules/.bin/esbuild', import.meta.url).pathname
  const minified = execFileSync(esbuild, [new URL('miniprogram_dist/index.js', clientDir).pathname, '--minify'])
  const size = execFileSync('gzip', ['-9', '-n'], { input: minified }).length
  t.ok(size < 4096, `${size} bytes`)
  t.ok(minified.length > 5000, 'the measure measures the client')
})

t.test('client/package.json: no runtime dependencies, and every entry it names exists', async (t) => {
  const pkg = JSON.parse(await source('package.json')) as Record<string, any>
  t.match(pkg, { name: 'weapp-auth-client', type: 'module', miniprogram: 'miniprogram_dist' })
  t.equal(pkg.dependencies, undefined)
  t.equal(pkg.peerDependencies, undefined)
  const entries = [pkg.main, pkg.module, pkg.types, ...Object.values(pkg.exports['.'] as Record<string, string>), `${pkg.miniprogram}/index.js`]
  for (const entry of entries) t.resolves(readFile(new URL(entry, clientDir)), entry)
  t.match(await source('dist/index.d.ts'), /export declare function createAuthClient/)
})
