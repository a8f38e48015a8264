import { request } from 'node:http'
import t from 'tap'
import { APP, build } from '../helper.js'

// Guarantee 6: capacity (WECHAT_MAX_CONNECTIONS / WECHAT_MAX_PENDING) never leaks.
// Every failure shape of WeChat, plus clients that hang up mid-login, then a full burst.

t.test('held: slot accounting survives time-outs, resets, busy retries, garbage and hang-ups', async (t) => {
  const { app, fake } = await build(t, { env: { WECHAT_TIMEOUT_MS: '400', WECHAT_MAX_CONNECTIONS: '4', WECHAT_MAX_PENDING: '8' } })
  const slots = (app.authService as unknown as { deps: { wechat: { slots: { pending: number } } } }).deps.wechat.slots
  const loginWith = (code: string) => app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  const burst = async (n: number) => Promise.all(Array.from({ length: n }, (_v, i) => loginWith(fake.login(APP.appid, `u-${Math.random()}-${i}`).code)))
  const faults = [
    { delayMs: 1000 }, { reset: true }, { errcode: -1 }, { malformed: true },
    { status: 502 }, { delayMs: 300, errcode: -1 }, { body: [1] }, { body: null }
  ]
  const seen = new Set<string>()
  for (const fault of faults) {
    fake.setFault(fault)
    for (const r of await burst(12)) seen.add(`${r.statusCode} ${r.json().code}`)
    fake.setFault(undefined)
    t.equal(slots.pending, 0, `no slot held after ${JSON.stringify(fault)}`)
  }
  t.comment(`answers seen: ${[...seen].join(' | ')}`)
  t.notOk([...seen].some((s) => s.startsWith('500')), 'no 500')

  // Clients that hang up while their login waits on WeChat.
  const url = new URL(await app.listen({ port: 0, host: '127.0.0.1' }))
  fake.setFault({ delayMs: 300 })
  await Promise.all(Array.from({ length: 8 }, () => new Promise<void>((resolve) => {
    const req = request({ host: url.hostname, port: url.port, path: '/v1/auth/login', method: 'POST', headers: { 'content-type': 'application/json' } })
    req.on('error', () => resolve())
    req.end(JSON.stringify({ code: fake.login(APP.appid, `gone-${Math.random()}`).code }))
    setTimeout(() => { req.destroy(); resolve() }, 50)
  })))
  await new Promise((resolve) => setTimeout(resolve, 800))
  t.equal(slots.pending, 0, 'no slot held after hang-ups')

  // Full capacity is still there.
  fake.setFault({ delayMs: 150 })
  const after = await burst(8)
  fake.setFault(undefined)
  t.same(after.map((r) => r.statusCode), Array(8).fill(200), 'eight logins at once, as configured')
})
