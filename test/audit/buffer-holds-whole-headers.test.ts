import t from 'tap'
import { request } from 'undici'
import { build } from '../helper.js'

// While the database refuses audit writes, the writer keeps up to 100,000
// events in memory for a retry. Each keeps the client's User-Agent whole (it is
// cut to 256 characters only when written): a client sending ~16 KB User-Agents
// to a route that needs no database (an unauthenticated logout is a 401 and an
// audit event) makes the buffer ~1.6 GB at its cap, far past the heap. The cut
// must happen when the event is recorded.

const UA = 'Mozilla/5.0 '.padEnd(15_000, 'x')

t.test('attack: oversize User-Agents pile up whole in the audit retry buffer', async (t) => {
  // Many clients (a failure naming no one is one row per client and minute): addresses through a trusted proxy.
  const { app, prisma } = await build(t, { env: { TRUST_PROXY: '1' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  // The database refuses the audit's INSERTs for a while (a lock, a full disk, a failover...).
  await prisma.$executeRawUnsafe('ALTER TABLE auth_events RENAME TO auth_events_away')
  const statuses = new Set<number>()
  for (let i = 0; i < 300; i++) {
    const res = await request(`${base}/v1/auth/logout`, { method: 'POST', headers: { 'user-agent': UA, 'x-forwarded-for': `198.51.${i >> 8}.${i & 255}` } })
    await res.body.dump()
    statuses.add(res.statusCode)
  }
  t.same([...statuses], [401], 'over the real listener: Node accepts the header, the route answers 401')
  await app.audit.flush()
  const pending = (app.audit as unknown as { pending: { userAgent?: string }[] }).pending
  const held = pending.reduce((sum, e) => sum + (e.userAgent?.length ?? 0), 0)
  t.equal(pending.length, 300, 'every event kept for the retry')
  t.ok(held <= 300 * 256, `the buffer holds at most 256 characters of User-Agent per event (holds ${held}, ${Math.round(held / pending.length)} each; x100,000 at the cap = ${Math.round(held / pending.length * 100_000 / 1e6)} MB)`)
  await prisma.$executeRawUnsafe('ALTER TABLE auth_events_away RENAME TO auth_events')
  await app.audit.flush()
  const [row] = await prisma.$queryRaw<{ n: number, longest: number }[]>`SELECT count(*)::int AS n, max(length(user_agent))::int AS longest FROM auth_events`
  t.same(row, { n: 300, longest: 256 }, 'once the database is back, all written, cut to 256')
})
