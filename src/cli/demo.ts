import type { ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig, type Config } from '../config.js'
import { spawnListening } from '../dev/spawn.js'
import { fakeWechatInfoFile } from '../dev/zero-config.js'

// `npm run demo`: plays a mini-program against the service and the bundled fake
// WeChat: wx.login -> login -> /me -> refresh -> logout. Uses the running
// service on HOST:PORT, or starts one (embedded defaults) for the demo's length.

const print = (step: string, detail: unknown): void => {
  process.stdout.write(`\n== ${step}\n${typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2)}\n`)
}

/** Tokens are secrets even in a demo: show enough to tell them apart. */
const mask = (body: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(body).map(([k, v]) => [k, /token$/i.test(k) && typeof v === 'string' ? `${v.slice(0, 12)}…(${v.length} chars)` : v]))

async function call (base: string, method: string, path: string, { body, token }: { body?: object, token?: string } = {}): Promise<{ status: number, json: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await res.text()
  return { status: res.status, json: text === '' ? {} : JSON.parse(text) as Record<string, unknown> }
}

async function reachable (base: string): Promise<boolean> {
  try { return (await fetch(`${base}/healthz`)).ok } catch { return false }
}

async function play (base: string, config: Config): Promise<void> {
  const fake = JSON.parse(await readFile(fakeWechatInfoFile(config.dataDir), 'utf8').catch(() => {
    throw new Error('the service is not running on the bundled fake WeChat (no WECHAT_APPID): the demo needs it to play wx.login()')
  })) as { url: string, appid: string }

  const wx = await (await fetch(`${fake.url}/__fake/login`, { method: 'POST', body: JSON.stringify({ appid: fake.appid, user: 'demo-user' }) })).json() as { code: string }
  print('1. wx.login() in the mini-program (fake WeChat)', { code: `${wx.code.slice(0, 6)}…` })

  const login = await call(base, 'POST', '/v1/auth/login', { body: { code: wx.code } })
  print(`2. POST /v1/auth/login -> ${login.status}`, mask(login.json))
  if (login.status !== 200) throw new Error('login failed')

  const me = await call(base, 'GET', '/v1/me', { token: login.json.accessToken as string })
  print(`3. GET /v1/me -> ${me.status}`, me.json)

  const refreshed = await call(base, 'POST', '/v1/auth/refresh', { body: { refreshToken: login.json.refreshToken } })
  print(`4. POST /v1/auth/refresh -> ${refreshed.status}`, mask(refreshed.json))

  const logout = await call(base, 'POST', '/v1/auth/logout', { token: refreshed.json.accessToken as string })
  print(`5. POST /v1/auth/logout -> ${logout.status}`, 'session ended')

  const after = await call(base, 'POST', '/v1/auth/refresh', { body: { refreshToken: refreshed.json.refreshToken } })
  print(`6. POST /v1/auth/refresh after logout -> ${after.status}`, after.json)
  if (me.status !== 200 || refreshed.status !== 200 || logout.status !== 204 || after.status !== 401) throw new Error('the demo flow did not go as expected')
}

let child: ChildProcess | undefined
try {
  const config = loadConfig()
  if (config.env === 'production') throw new Error('the demo plays a fake WeChat and refuses to run with NODE_ENV=production')
  let base = process.env.DEMO_SERVICE_URL ?? `http://${config.host}:${config.port}`
  if (!await reachable(base)) {
    process.stdout.write(`no service at ${base}: starting one for the demo (embedded defaults)\n`)
    const started = await spawnListening(fileURLToPath(new URL('../server.js', import.meta.url)), { ...process.env, PORT: '0' })
    child = started.child
    base = started.url
  }
  process.stdout.write(`playing a mini-program against ${base}\n`)
  await play(base, config)
  process.stdout.write('\ndemo finished\n')
} catch (error) {
  process.stderr.write(`weapp-auth demo: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`)
  process.exitCode = 1
} finally {
  child?.kill('SIGTERM')
}
