import t from 'tap'
import { build, redisNamespace } from '../helper.js'
import { login } from '../helpers/auth.js'
import { capture } from '../helpers/log.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

t.test('attack: a hung Redis costs one time-out, then requests stop waiting on it, and it is logged', async (t) => {
  const { prefix } = await redisNamespace(t)
  const proxy = new TcpProxy(6379)
  const port = await proxy.listen(t)
  const { lines, logger } = capture()
  const { app, fake } = await build(t, { logger, env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: prefix } })
  await login(app, fake, 'alice')
  proxy.stall()
  await login(app, fake, 'alice')
  const afterFirst = proxy.stalledChunks
  t.ok(afterFirst >= 1, 'the first request found Redis hung')
  for (let i = 0; i < 5; i++) await login(app, fake, 'alice')
  t.equal(proxy.stalledChunks, afterFirst, 'later requests did not send Redis anything to wait on')
  const warnings = lines.map((line) => JSON.parse(line)).filter((entry) => entry.level === 40 && /redis/i.test(entry.msg))
  t.equal(warnings.length, 1, 'reported once')
})
