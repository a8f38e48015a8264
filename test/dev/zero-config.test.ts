import { spawn } from 'node:child_process'
import { chmod, chown, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ConfigError, parseConfig, type RuntimeConfig } from '../../src/config/index.js'
import { startEmbeddedDatabase } from '../../src/db/embedded.js'
import { PLATFORMS } from '../../src/config/apps.js'
import { applyDevelopmentDefaults, fakePlatformsInfoFile, type FakePlatformsInfo } from '../../src/dev/zero-config.js'
import { createLogger } from '../../src/logger.js'
import { ED25519_PEM, VAULT_KEYS } from '../helper.js'

// The built entry point, as `npm start` runs it.
const SERVER = new URL('../../dist/server.js', import.meta.url).pathname

/** The server with only this environment: its exit code, or 'listening' (then it is stopped), and what it printed. */
async function start (t: Test, env: Record<string, string>): Promise<{ outcome: number | 'listening', output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-zero-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [SERVER], { env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: join(dir, '.data'), ...env }, cwd: dir })
  let output = ''
  return await new Promise((resolve) => {
    const read = (chunk: Buffer): void => {
      output += String(chunk)
      if (/Server listening at/.test(output)) child.kill('SIGKILL')
    }
    child.stdout.on('data', read)
    child.stderr.on('data', read)
    child.on('exit', (code) => resolve({ outcome: /Server listening at/.test(output) ? 'listening' : code ?? -1, output }))
  })
}

t.test('attack: zero configuration on HOST=0.0.0.0 does not start, naming what to set', async (t) => {
  const { outcome, output } = await start(t, { HOST: '0.0.0.0' })
  t.equal(outcome, 1, 'refused, not listening with the fake WeChat, development keys and a passwordless database')
  for (const name of ['WECHAT_APPID', 'JWT_PRIVATE_KEY', 'SESSION_KEY_ENCRYPTION_KEYS', 'DATABASE_URL', 'HOST=127.0.0.1']) t.match(output, name, `names ${name}`)
  t.notMatch(output, /fake WeChat at|embedded database listening/, 'nothing was substituted before the refusal')
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})

const devConfig = (env: Record<string, string>) => parseConfig({ NODE_ENV: 'development', LOG_LEVEL: 'silent', DATA_DIR: join(tmpdir(), 'weapp-zero-config-never-written'), ...env })
const silent = createLogger('silent')

t.test('attack: any one development default is refused off loopback, and only it is named', async (t) => {
  const real = { DATABASE_URL: 'postgresql://u:p@db.internal:5432/app', WECHAT_APPID: 'wx1', WECHAT_SECRET: 's', JWT_PRIVATE_KEY: ED25519_PEM, SESSION_KEY_ENCRYPTION_KEYS: VAULT_KEYS }
  const { DATABASE_URL: _db, ...noDatabase } = real
  const { WECHAT_APPID: _a, WECHAT_SECRET: _s, ...noWechat } = real
  const { SESSION_KEY_ENCRYPTION_KEYS: _k, ...noVault } = real
  const names = ['DATABASE_URL', 'WECHAT_APPID', 'JWT_PRIVATE_KEY', 'SESSION_KEY_ENCRYPTION_KEYS']
  for (const [env, named] of [[noDatabase, 'DATABASE_URL'], [noWechat, 'WECHAT_APPID'], [noVault, 'SESSION_KEY_ENCRYPTION_KEYS']] as const) {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'api.example.com']) {
      const refused = applyDevelopmentDefaults(devConfig({ ...env, HOST: host }), silent)
      await t.rejects(refused, ConfigError, `${named} unset on ${host}: refused`)
      const { message } = await refused.then(() => new Error(), (error: Error) => error)
      t.same(names.filter((name) => message.includes(name)), [named], 'names what is missing, only that')
    }
  }
  const complete = await applyDevelopmentDefaults(devConfig({ ...real, HOST: '0.0.0.0' }), silent)
  t.equal(complete.config.host, '0.0.0.0', 'every setting real: any address')
  await complete.close()
})

t.test('development defaults still run on every loopback address', async (t) => {
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
    const dir = await mkdtemp(join(tmpdir(), 'weapp-zero-config-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const development = await applyDevelopmentDefaults(devConfig({ HOST: host, DATA_DIR: dir }), silent)
    t.equal(development.config.host, host)
    const [demo] = development.config.wechat.apps
    t.same(development.config.apps[0], { platform: 'wechat', ...demo }, 'the fake WeChat\'s app is in the list of every app too')
    await development.close()
  }
})

t.test('with no app set, one app per platform, each on its own fake on loopback, its secrets made for this run', async (t) => {
  const dirs = [await mkdtemp(join(tmpdir(), 'weapp-zero-config-')), await mkdtemp(join(tmpdir(), 'weapp-zero-config-'))]
  t.teardown(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))))
  const [one, two] = await Promise.all(dirs.map((dir) => applyDevelopmentDefaults(devConfig({ DATA_DIR: dir }), silent)))
  t.teardown(async () => { await one!.close(); await two!.close() })
  const { apps } = one!.config
  t.same(apps.map((app) => app.platform), [...PLATFORMS], 'every platform, once')
  const info = JSON.parse(await readFile(fakePlatformsInfoFile(dirs[0]!), 'utf8')) as FakePlatformsInfo
  for (const app of apps.filter((app) => app.platform !== 'wechat')) {
    t.equal(app.apiBase, info[app.platform].url, `${app.platform}: apiBase is its fake's, as the demo is told`)
    t.match(app.apiBase, /^http:\/\/127\.0\.0\.1:\d+$/, `${app.platform}: on loopback`)
  }
  t.equal(one!.config.wechat.apiBase, info.wechat.url)
  const secrets = (config: RuntimeConfig) => config.apps.map((app) => 'secret' in app ? app.secret : app.platform === 'alipay' ? app.aesKey.toString('hex') : '')
  t.notSame(secrets(one!.config), secrets(two!.config), 'no secret is fixed: another run has others')
  const alipay = apps.find((app) => app.platform === 'alipay')!
  t.equal(alipay.platform === 'alipay' && alipay.privateKey.asymmetricKeyType, 'rsa', 'the Alipay app key pair is generated')
  await one!.close()
  await t.rejects(readFile(fakePlatformsInfoFile(dirs[0]!)), { code: 'ENOENT' }, 'the info file goes with the fakes')
  await t.rejects(fetch(`${info.qq.url}/__fake/login`, { method: 'POST', body: '{}' }), TypeError, 'the fakes are closed')
})

const DEMO = new URL('../../dist/cli/demo.js', import.meta.url).pathname

/** `npm run demo` with only this environment, in a DATA_DIR of its own: its exit code and what it printed. */
async function demo (t: Test, env: Record<string, string>): Promise<{ code: number | null, output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-zero-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const child = spawn(process.execPath, [DEMO], { env: { PATH: process.env.PATH, PORT: '0', DATA_DIR: join(dir, '.data'), ...env }, cwd: dir })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += String(chunk) })
  child.stderr.on('data', (chunk: Buffer) => { output += String(chunk) })
  return await new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })))
}

t.test('an unknown DEMO_PLATFORM is refused with the list, before any service starts', async (t) => {
  const { code, output } = await demo(t, { DEMO_PLATFORM: 'wechat,line' })
  t.equal(code, 1)
  t.match(output, 'DEMO_PLATFORM: "line" is not a platform; one of wechat, qq, douyin, baidu, alipay, kuaishou')
  t.notMatch(output, /starting one for the demo/)
})

// Failed before: a DATA_DIR another user made (DATA_DIR=/tmp/weapp, created first by them) or can
// write was used as it was: their dev-keys.json signed this service's tokens, and their symlink at
// fake-platforms.json or embedded-db.json had the start overwrite whatever file it names.
t.test('attack: a DATA_DIR another user owns or can write is refused before anything in it is read or written', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'weapp-zero-config-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const victim = join(root, 'victim-file')
  await writeFile(victim, 'precious\n')

  const open = join(root, 'open')
  await mkdir(open)
  await chmod(open, 0o777)
  await symlink(victim, join(open, 'fake-platforms.json'))
  await t.rejects(applyDevelopmentDefaults(devConfig({ DATA_DIR: open }), silent), /writable by every user/, 'a world-writable DATA_DIR')
  await t.rejects(startEmbeddedDatabase(open), /writable by every user/, 'the embedded database too (npm run studio)')
  t.equal(await readFile(victim, 'utf8'), 'precious\n', 'the file behind the planted symlink is untouched')

  if (process.getuid?.() !== 0) return
  const theirs = join(root, 'theirs')
  await mkdir(theirs)
  await writeFile(join(theirs, 'dev-keys.json'), JSON.stringify({ jwtPrivateKey: ED25519_PEM, sessionKeyEncryptionKeys: VAULT_KEYS }))
  await chown(theirs, 65534, 65534)
  await chown(join(theirs, 'dev-keys.json'), 65534, 65534)
  await t.rejects(applyDevelopmentDefaults(devConfig({ DATA_DIR: theirs }), silent), /belongs to another user/, 'another user\'s DATA_DIR, keys planted in it')
  await t.rejects(startEmbeddedDatabase(theirs), /belongs to another user/)
})
