import t from 'tap'
import { ConfigError, parseConfig, parseDuration } from '../src/config.js'

function problemsOf (env: Record<string, string>): string[] {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

t.test('an empty environment is a valid development setup with documented defaults', async (t) => {
  const config = parseConfig({})
  t.equal(config.env, 'development')
  t.equal(config.host, '127.0.0.1')
  t.equal(config.port, 3000)
  t.equal(config.databaseUrl, undefined)
  t.equal(config.wechat.apiBase, 'https://api.weixin.qq.com')
  t.same(config.wechat.apps, [])
  t.equal(config.jwt.accessTtlSeconds, 15 * 60)
  t.equal(config.jwt.reuseGraceSeconds, 10)
})

t.test('strings from the environment are converted and checked', async (t) => {
  const config = parseConfig({ PORT: '8080', WECHAT_APPID: 'wx123', WECHAT_SECRET: 's3cret', WECHAT_API_BASE: 'http://127.0.0.1:9/', ACCESS_TOKEN_TTL: '2h' })
  t.equal(config.port, 8080)
  t.same(config.wechat.apps, [{ appid: 'wx123', secret: 's3cret' }])
  t.equal(config.wechat.apiBase, 'http://127.0.0.1:9', 'trailing slash dropped')
  t.equal(config.jwt.accessTtlSeconds, 7200)
})

t.test('every problem is reported at once, one line per variable', async (t) => {
  const problems = problemsOf({ PORT: 'eighty', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://root@db/x', WECHAT_APPID: 'wx1' })
  t.equal(problems.length, 4)
  t.match(problems[0], /^PORT: /)
  t.match(problems[1], /^LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent$/)
  t.match(problems[2], /^DATABASE_URL: must be a URL/)
  t.match(problems[3], /WECHAT_APPID and WECHAT_SECRET: set both or neither/)
})

t.test('a malformed DATABASE_URL is rejected without echoing its password', async (t) => {
  for (const url of ['not a url', 'postgresql://', 'http://user:hunter2@host/db']) {
    const problems = problemsOf({ DATABASE_URL: url })
    t.equal(problems.length, 1, url)
    t.notMatch(problems.join(), /hunter2/)
  }
})

t.test('production requires real credentials, keys and a database', async (t) => {
  const problems = problemsOf({ NODE_ENV: 'production' })
  t.match(problems.join('\n'), /WECHAT_APPID and WECHAT_SECRET: required/)
  t.match(problems.join('\n'), /JWT_PRIVATE_KEY or JWT_SECRET: required/)
  t.match(problems.join('\n'), /SESSION_KEY_ENCRYPTION_KEYS: required/)
  t.match(problems.join('\n'), /DATABASE_URL: required/)
})

t.test('the error message lists the problems under one heading', async (t) => {
  const error = t.throws(() => parseConfig({ PORT: '-1', JWT_SECRET: 'short' })) as ConfigError
  t.match(error.message, /^invalid configuration \(2 problems\):\n {2}- PORT: .*\n {2}- JWT_SECRET: /)
})

t.test('durations accept a unit suffix', async (t) => {
  t.equal(parseDuration('90'), 90)
  t.equal(parseDuration('90s'), 90)
  t.equal(parseDuration('15m'), 900)
  t.equal(parseDuration('1h'), 3600)
  t.equal(parseDuration('30d'), 30 * 86400)
})
