import t from 'tap'
import { buildApp } from '../src/app.js'
import { openDatabase } from '../src/db/database.js'
import { createLogger } from '../src/logger.js'
import { APP, startFakeWechat, testConfig, testDatabase } from './helper.js'
import { bearer, login, rowCounts } from './helpers/auth.js'
import { TcpProxy } from './helpers/tcp-proxy.js'

async function eventually (check: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error('condition not met in time')
}

t.test('database lost mid-run: 503 DATABASE_UNAVAILABLE, /readyz 503, token checks go on, recovery by itself', async (t) => {
  const db = await testDatabase(t)
  const target = new URL(db.url)
  const proxy = new TcpProxy(Number(target.port || 5432))
  target.port = String(await proxy.listen(t))
  const fake = await startFakeWechat(t)
  const url = target.toString()
  const app = await buildApp(testConfig(url, {}, fake.url), { db: openDatabase({ url, poolSize: 3 }), logger: createLogger('silent') })
  t.teardown(() => app.close())
  const directDb = openDatabase({ url: db.url, poolSize: 1 })
  t.teardown(() => directDb.close())
  const direct = directDb.prisma

  const alice = await login(app, fake, 'alice')
  await proxy.cut()

  const ready = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'unavailable', reason: 'database unreachable' })
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken) })
  t.match(me.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE', message: /try again shortly/ })
  const refresh = await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })
  t.match(refresh.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
  const before = await rowCounts(direct)
  const { code } = fake.login(APP.appid, 'bob')
  const bob = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.match(bob.json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
  t.same(await rowCounts(direct), before, 'nothing half-written')
  const session = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(alice.accessToken) })
  t.equal(session.statusCode, 200, 'access tokens are still checked without the database')

  await proxy.restore()
  const recoveredInMs = await eventually(async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200)
  t.comment(`recovered ${recoveredInMs} ms after the database came back`)
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(alice.accessToken) })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/refresh', payload: { refreshToken: alice.refreshToken } })).statusCode, 200, 'the refresh token was not consumed by the failed attempt')
})
