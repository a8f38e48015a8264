import t from 'tap'
import { parseConfig } from '../../src/config/index.js'
import { testConfig } from '../helper.js'
import { productionEnv } from '../helpers/config.js'

t.test('configuration a production start should refuse', async (t) => {
  const base = productionEnv()
  for (const [label, extra] of <[string, Record<string, string>][]>[
    ['AppSecret, js_code and session_key over plain HTTP', { WECHAT_API_BASE: 'http://api.weixin.qq.com' }],
    ['an HS256 secret of one repeated character', { JWT_PRIVATE_KEY: '', JWT_SECRET: 'a'.repeat(32) }],
    ['access tokens that outlive their session by a day', { ACCESS_TOKEN_TTL: '1d', SESSION_MAX_AGE: '1m' }]
  ]) {
    // Failed on cd7c1d9: each is accepted.
    t.throws(() => parseConfig({ ...base, ...extra }), { name: 'ConfigError' }, label)
  }
})

t.test('attack: absurd durations are refused at start with the usual message', async (t) => {
  for (const [name, value] of <[string, string][]>[['SESSION_MAX_AGE', '25000d'], ['SESSION_MAX_AGE', '0'], ['ACCESS_TOKEN_TTL', '0'], ['ACCESS_TOKEN_TTL', '400d'],
    ['REFRESH_TOKEN_TTL', '0'], ['REFRESH_TOKEN_TTL', '99999d'], ['RATE_LIMIT_WINDOW', '0'], ['REFRESH_REUSE_GRACE', '30d']]) {
    t.throws(() => testConfig('postgresql://postgres@127.0.0.1:5432/x', { [name]: value }), { name: 'ConfigError', message: new RegExp(`${name}: must be`) }, `${name}=${value}`)
  }
  t.doesNotThrow(() => parseConfig({ NODE_ENV: 'test', REFRESH_REUSE_GRACE: '0', SESSION_MAX_AGE: '3650d' }))
})
