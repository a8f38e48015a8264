import t from 'tap'
import { APP, build } from '../helper.js'
import { login } from '../helpers/auth.js'

// Attacks on the ban that did not get through (review of e25c095), kept as
// regression tests.

t.test('held: a login code retried inside its 10 s window after a ban gets no tokens', async (t) => {
  const { app, fake, prisma } = await build(t)
  const { code } = fake.login(APP.appid, 'alice')
  const first = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(first.statusCode, 200)
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${first.json().user.id}::uuid`
  const retry = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.not(retry.statusCode, 200)
  t.notOk(retry.json().accessToken, 'the kept grant is not handed out')
})

t.test('held: logout-all by a banned user only ends sessions (nothing issued)', async (t) => {
  const { app, fake, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  await prisma.$executeRaw`UPDATE users SET disabled_at = now() WHERE id = ${alice.user.id}::uuid`
  const out = await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: { authorization: `Bearer ${alice.accessToken}` } })
  t.ok([204, 403].includes(out.statusCode))
  const [row] = await prisma.$queryRaw<{ live: number }[]>`SELECT count(*)::int AS live FROM sessions WHERE revoked_at IS NULL`
  t.equal(row!.live, 0)
})
