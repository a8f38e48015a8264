import { readFile } from 'node:fs/promises'
import t from 'tap'
import type { AuthError } from '../../client/dist/index.js'
import { APP } from '../helper.js'
import { client, Clock, device, serve, stored } from '../helpers/client.js'

const LEVELS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const

t.test('the built client has no logging at all', async (t) => {
  for (const file of ['dist/index.js', 'dist/index.cjs', 'miniprogram_dist/index.js']) {
    t.notMatch(await readFile(new URL(`../../client/${file}`, import.meta.url), 'utf8'), /\bconsole\b/, file)
  }
})

t.test('through login, refresh, re-login, user data and failures: nothing logged, no secret in any error', async (t) => {
  const logged: unknown[][] = []
  const saved = LEVELS.map((level) => [level, console[level]] as const)
  for (const level of LEVELS) console[level] = (...args: unknown[]) => { logged.push(args) }
  t.teardown(() => { for (const [level, original] of saved) console[level] = original })

  const served = await serve(t)
  const clock = new Clock()
  const wx = device(served)
  const secrets = new Set<string>()
  wx.codeFilter = (code) => { secrets.add(code); return code }
  const keep = (): void => {
    const tokens = stored(wx)
    if (tokens !== '') { secrets.add(tokens.accessToken); secrets.add(tokens.refreshToken) }
    const sessionKey = served.fake.sessionKey(APP.appid, 'alice')
    if (sessionKey !== undefined) secrets.add(sessionKey)
  }
  const errors: AuthError[] = []
  const attempt = async (call: () => Promise<unknown>): Promise<void> => {
    try { await call() } catch (error) { errors.push(error as AuthError) }
    keep()
  }
  const auth = client(served, wx, { now: clock.now })

  await attempt(() => auth.request({ url: '/v1/me' }))
  clock.advance(15 * 60)
  await attempt(() => auth.request({ url: '/v1/me' }))
  await attempt(() => client(served, device(served)).login().then(() => client(served, device(served)).logoutAll()))
  await attempt(() => auth.request({ url: '/v1/me' }))
  served.fake.expireSession(APP.appid, 'alice')
  await attempt(async () => auth.decrypt(await wx.getUserProfile({ nickName: 'Bo' })))
  const phoneCode = await wx.phoneNumberCode()
  secrets.add(phoneCode)
  await attempt(() => auth.phone(phoneCode))
  await attempt(() => auth.phone(phoneCode))
  wx.codeFilter = (code) => { secrets.add(code); return 'forged' }
  await attempt(() => auth.login())
  served.fake.setFault({ status: 502 })
  wx.codeFilter = (code) => { secrets.add(code); return code }
  await attempt(() => auth.login())
  served.fake.setFault(undefined)
  await attempt(() => auth.logout())

  t.same(logged, [], 'nothing logged')
  t.same(errors.map((e) => e.code), ['SESSION_KEY_STALE', 'PHONE_CODE_INVALID', 'WECHAT_CODE_INVALID', 'WECHAT_UNAVAILABLE'])
  t.ok(secrets.size >= 10, `${secrets.size} secrets collected`)
  const texts = errors.map((e) => `${e.message} ${e.stack} ${JSON.stringify(e)}`)
  for (const secret of secrets) t.notOk(texts.some((text) => text.includes(secret)), 'no secret in an error')
})
