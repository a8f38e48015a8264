import t from 'tap'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/database.js'
import { createLogger } from '../../src/logger.js'
import { build, testConfig } from '../helper.js'

t.test('GET /healthz answers while the process runs', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
})

t.test('GET /readyz is 200 when the database answers', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ready' })
})

t.test('GET /readyz is 503 with a reason when the database is unreachable', async (t) => {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const url = 'postgresql://postgres@127.0.0.1:1/none'
  const app = await buildApp(testConfig(url), { db: openDatabase({ url, poolSize: 1 }), logger: createLogger('silent') })
  t.teardown(() => app.close())
  const res = await app.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'unavailable', reason: 'database unreachable' })
})

t.test('unknown routes get the JSON error shape with a code', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/nope?secret=x' })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: 'route GET /nope not found' })
})

t.test('an unexpected database error is a 500 INTERNAL_ERROR that quotes no SQL', async (t) => {
  const { app, prisma } = await build(t)
  const { randomUUID } = await import('node:crypto')
  const token = app.signAccessToken({ sub: randomUUID(), sid: randomUUID(), appid: 'wxtest0000000001' })
  await prisma.$executeRaw`ALTER TABLE users RENAME COLUMN nickname TO nick`
  const res = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 500)
  t.same(res.json(), { statusCode: 500, code: 'INTERNAL_ERROR', error: 'Internal Server Error', message: 'internal error' }, 'the whole body: no SQL, column or Prisma code in it')
})
