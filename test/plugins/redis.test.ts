import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/logger.js'
import { RedisHealth, withFallback } from '../../src/plugins/redis.js'

function setup (cooldownMs = 5000) {
  const lines: { level: number, msg: string }[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean).map((l) => JSON.parse(l))); done() } })
  let now = 1_000_000
  const health = new RedisHealth(createLogger('info', stream), () => now, cooldownMs)
  return { health, lines, advance: (ms: number) => { now += ms } }
}

class Counter {
  calls = 0
  constructor (private readonly fail: () => boolean) {}
  async value (): Promise<string> {
    this.calls++
    if (this.fail()) throw new Error('Command timed out')
    return 'shared'
  }
}

t.test('after a failure Redis is skipped for the cooldown, then one caller probes it, and it is used again once it answers', async (t) => {
  const { health, lines, advance } = setup()
  let down = false
  const shared = new Counter(() => down)
  const local = { value: async () => 'local' } as unknown as Counter
  const store = withFallback(shared, local, health)
  t.equal(await store.value(), 'shared')

  down = true
  t.equal(await store.value(), 'local', 'the failing call falls back')
  t.equal(shared.calls, 2)
  for (let i = 0; i < 5; i++) t.equal(await store.value(), 'local')
  t.equal(shared.calls, 2, 'nobody waits on Redis during the cooldown')

  advance(5001)
  t.equal(health.usable(), true, 'one probe after the cooldown')
  t.equal(health.usable(), false, 'only one at a time')
  health.failed(new Error('still hung'))
  t.equal(health.usable(), false, 'a failed probe starts another cooldown')

  advance(5001)
  down = false
  t.equal(await store.value(), 'shared', 'the probe succeeds')
  t.equal(await store.value(), 'shared', 'and everyone uses Redis again')
  const outage = lines.filter((l) => /redis/.test(l.msg))
  t.same(outage.map((l) => l.level), [40, 30], 'one warning when it went, one note when it came back')
})
