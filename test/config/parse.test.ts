import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { ConfigError, parseConfig, parseDuration } from '../../src/config/index.js'
import { problemsOf } from '../helpers/config.js'

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
  t.match(problems.join('\n'), /WECHAT_APPID and WECHAT_SECRET \(or WECHAT_APPS, or APPS\): required/)
  t.match(problems.join('\n'), /JWT_PRIVATE_KEY or JWT_SECRET: required/)
  t.match(problems.join('\n'), /SESSION_KEY_ENCRYPTION_KEYS: required/)
  t.match(problems.join('\n'), /DATABASE_URL: required/)
})

t.test('the error message lists the problems under one heading', async (t) => {
  const error = t.throws(() => parseConfig({ PORT: '-1', JWT_SECRET: 'short' })) as ConfigError
  t.match(error.message, /^invalid configuration \(2 problems\):\n {2}- PORT: .*\n {2}- JWT_SECRET: /)
})

t.test('WECHAT_APPS lists several mini-programs beside the single pair', async (t) => {
  const config = parseConfig({ WECHAT_APPS: '[{"appid":"wxa","secret":"sa"},{"appid":"wxb","secret":"sb"}]', WECHAT_APPID: 'wxc', WECHAT_SECRET: 'sc' })
  t.same(config.wechat.apps.map((a) => a.appid), ['wxa', 'wxb', 'wxc'])
  t.same(problemsOf({ WECHAT_APPS: '{"appid":"wxa"}' }), ['WECHAT_APPS: must be a JSON list like [{"appid":"wx...","secret":"..."}]'])
  t.same(problemsOf({ WECHAT_APPS: 'not json' }).length, 1)
  t.same(problemsOf({ WECHAT_APPS: '[{"appid":"wxa","secret":"1"},{"appid":"wxa","secret":"2"}]' }), ['WECHAT_APPS: an appid appears twice'])
  t.same(problemsOf({ WECHAT_APPS: '[{"appid":"wxa","secret":"1"}]', WECHAT_APPID: 'wxa', WECHAT_SECRET: '2' }), ['WECHAT_APPID: also in WECHAT_APPS with another secret'])
})

t.test('keys are checked at start, without echoing them', async (t) => {
  t.match(problemsOf({ JWT_PRIVATE_KEY: 'not a pem' }), [/^JWT_PRIVATE_KEY \/ JWT_PUBLIC_KEYS: /])
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  t.match(problemsOf({ JWT_PRIVATE_KEY: rsa }), [/unsupported key type rsa: use an Ed25519 \(EdDSA\) or P-256 \(ES256\) key/])
  const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const ecPublic = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  t.match(problemsOf({ JWT_PRIVATE_KEY: ed, JWT_PUBLIC_KEYS: ecPublic }), [/is ES256, the signing key is EdDSA/])
  t.same(problemsOf({ JWT_PRIVATE_KEY: ed.replace(/\n/g, '\\n') }), [], 'PEM with escaped newlines, as in a .env line')
  t.same(problemsOf({ JWT_PRIVATE_KEY: ed, JWT_SECRET: 'k9Qf2Lx7Zp4Wm8Rt1Vb6Nc3Hy5Jd0Gs2' }), ['JWT_PRIVATE_KEY and JWT_SECRET: set one, not both (asymmetric or shared-secret signing)'])
  const short = problemsOf({ SESSION_KEY_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })
  t.same(short, ['SESSION_KEY_ENCRYPTION_KEYS: key 1 is not a base64-encoded 32-byte key'])
})

t.test('durations accept a unit suffix', async (t) => {
  t.equal(parseDuration('90'), 90)
  t.equal(parseDuration('90s'), 90)
  t.equal(parseDuration('15m'), 900)
  t.equal(parseDuration('1h'), 3600)
  t.equal(parseDuration('30d'), 30 * 86400)
})
