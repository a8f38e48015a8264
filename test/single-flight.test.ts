import t from 'tap'
import { SingleFlight } from '../src/single-flight.js'

t.test('concurrent callers of one key share one call', async (t) => {
  const flight = new SingleFlight<number>()
  let calls = 0
  const fn = async () => { calls++; await new Promise((resolve) => setTimeout(resolve, 20)); return calls }
  const results = await Promise.all(Array.from({ length: 10 }, () => flight.run('k', fn)))
  t.same(results, Array(10).fill(1))
  t.equal(calls, 1)
  t.equal(await flight.run('k', fn), 2, 'without memory, the next call runs again')
})

t.test('failures are shared by waiters but not remembered', async (t) => {
  const flight = new SingleFlight<number>(1000)
  let calls = 0
  const failing = async () => { calls++; throw new Error('boom') }
  const results = await Promise.allSettled([flight.run('k', failing), flight.run('k', failing)])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
  t.equal(calls, 1)
  await t.rejects(flight.run('k', failing))
  t.equal(calls, 2)
})

t.test('a success is remembered for its window, then forgotten', async (t) => {
  let now = 0
  const flight = new SingleFlight<string>(1000, 10, () => now)
  let calls = 0
  const fn = async () => `v${++calls}`
  t.equal(await flight.run('k', fn), 'v1')
  now = 999
  t.equal(await flight.run('k', fn), 'v1')
  now = 1000
  t.equal(await flight.run('k', fn), 'v2')
})

t.test('memory is bounded', async (t) => {
  const flight = new SingleFlight<number>(60_000, 3)
  for (let i = 0; i < 5; i++) await flight.run(`k${i}`, async () => i)
  let calls = 0
  await flight.run('k0', async () => { calls++; return 0 })
  t.equal(calls, 1, 'the oldest entry was evicted')
  t.equal(await flight.run('k4', async () => -1), 4, 'the newest is kept')
})
