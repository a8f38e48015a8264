import { generateKeyPairSync, randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { problemsOf, productionEnv } from '../helpers/config.js'

const production = productionEnv()

const apps = (...list: unknown[]) => ({ APPS: JSON.stringify(list) })

/** The whole refusal as the start prints it. */
function refusal (env: Record<string, string>): string {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.message
    throw error
  }
  return ''
}

// Failed before APPS existed: the variable was ignored, so an app's secret could be configured
// to travel in clear text to any host.
t.test('attack: an APPS apiBase over plain http to a remote host is refused in production, the secret never echoed', async (t) => {
  const secret = 'douyin-secret-never-echoed-42'
  const text = refusal({ ...production, ...apps({ platform: 'douyin', appid: 'tt1', secret, apiBase: 'http://evil.example' }) })
  t.match(text, /APPS\[0\] \(douyin\): apiBase must be https:\/\/ when NODE_ENV=production \(plain http only to a loopback address\)/)
  t.notMatch(text, secret, 'the secret is not in the message')
  t.notMatch(text, 'evil.example', 'nor the URL')
  t.same(problemsOf({ ...production, ...apps({ platform: 'douyin', appid: 'tt1', secret, apiBase: 'http://127.0.0.1:9000' }) }), [], 'loopback http is allowed')
  t.same(problemsOf({ ...production, ...apps({ platform: 'douyin', appid: 'tt1', secret, apiBase: 'https://douyin.internal.example/' }) }), [], 'https is')
})

const rsaPair = () => generateKeyPairSync('rsa', { modulusLength: 2048 })
const pem = {
  rsaPrivate: () => rsaPair().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  rsaPublic: () => rsaPair().publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  ecPrivate: () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
}

t.test('every platform parses with its own fields, keys decoded once, beside the WeChat apps of WECHAT_*', async (t) => {
  const aesKey = randomBytes(16).toString('base64')
  const config = parseConfig({
    NODE_ENV: 'test',
    WECHAT_APPID: 'wx1',
    WECHAT_SECRET: 's1',
    ...apps(
      { platform: 'wechat', appid: 'wx2', secret: 's2' },
      { platform: 'qq', appid: '1110000000', secret: 'q' },
      { platform: 'kuaishou', appid: 'ks1', secret: 'k', apiBase: 'https://ks.example/base//' },
      { platform: 'douyin', appid: 'tt1', secret: 'd', rsaPrivateKey: pem.rsaPrivate() },
      { platform: 'baidu', appid: '2000', appKey: 'client-id', secret: 'sk' },
      { platform: 'alipay', appid: '2021000000000000', privateKey: pem.rsaPrivate(), alipayPublicKey: pem.rsaPublic(), aesKey }
    )
  })
  t.same(config.apps.map((app) => `${app.platform}:${app.appid}`), ['wechat:wx1', 'wechat:wx2', 'qq:1110000000', 'kuaishou:ks1', 'douyin:tt1', 'baidu:2000', 'alipay:2021000000000000'])
  t.same(config.wechat.apps, [{ appid: 'wx1', secret: 's1' }, { appid: 'wx2', secret: 's2' }], 'the WeChat code path serves the wechat apps of WECHAT_* and of APPS')
  const byId = new Map(config.apps.map((app) => [app.appid, app]))
  t.equal(byId.get('ks1')!.apiBase, 'https://ks.example/base', 'no trailing slash')
  t.equal(byId.get('wx2')!.apiBase, undefined)
  const douyin = byId.get('tt1')
  t.equal(douyin?.platform === 'douyin' && douyin.rsaPrivateKey?.asymmetricKeyType, 'rsa')
  const baidu = byId.get('2000')
  t.same(baidu?.platform === 'baidu' && [baidu.appKey, baidu.secret], ['client-id', 'sk'])
  const alipay = byId.get('2021000000000000')
  if (alipay?.platform !== 'alipay') throw new Error('no alipay app')
  t.equal(alipay.privateKey.type, 'private')
  t.equal(alipay.alipayPublicKey.type, 'public')
  t.same(alipay.aesKey, Buffer.from(aesKey, 'base64'))
})

t.test('PEMs keep their newlines as JSON escapes, as a one-line .env value writes them', async (t) => {
  const key = pem.rsaPrivate()
  const line = `[{"platform":"douyin","appid":"tt1","secret":"d","rsaPrivateKey":${JSON.stringify(key)}}]`
  t.match(line, /\\n/, 'the escapes are in the text')
  t.notMatch(line, /\n/, 'one line')
  const [app] = parseConfig({ NODE_ENV: 'test', APPS: line }).apps
  t.equal(app?.platform === 'douyin' && app.rsaPrivateKey?.asymmetricKeyType, 'rsa')
})

t.test('attack: the start lists every problem of APPS at once, never a secret or key', async (t) => {
  const secrets = ['qq-secret-value-1', 'baidu-sk-value-2', 'alipay-private-pem-3', 'unknown-field-value-4', 'dup-secret-value-5']
  const ec = pem.ecPrivate()
  const rsaPrivate = pem.rsaPrivate()
  const problems = problemsOf({
    NODE_ENV: 'test',
    WECHAT_APPS: '[{"appid":"wx1","secret":"w"}]',
    ...apps(
      { platform: 'qq', secret: secrets[0] },
      { platform: 'baidu', appid: 'b1', secret: secrets[1] },
      { platform: 'alipay', appid: 'a1', privateKey: ec, alipayPublicKey: rsaPrivate, aesKey: randomBytes(32).toString('base64') },
      { platform: 'alipay', appid: 'a2', privateKey: secrets[2], alipayPublicKey: pem.rsaPublic(), aesKey: 'not base64!' },
      { platform: 'douyin', appid: 'tt1', secret: 's', secrte: secrets[3], rsaPrivateKey: ec },
      { platform: 'kuaishou', appid: 'wx1', secret: secrets[4] },
      { platform: 'kuaishou', appid: 'ks1', secret: 'k' },
      { platform: 'qq', appid: 'ks1', secret: 'q' },
      { platform: 'wechat', appid: 'wx3', secret: 7 },
      { platform: 'weibo', appid: 'x', secret: 'y' },
      'wx4',
      { platform: 'douyin', appid: 'tt2', secret: 'd', apiBase: 'ftp://douyin.example' }
    )
  })
  t.same(problems, [
    'APPS[0] (qq): appid must be 1-64 letters, digits, _ or -',
    'APPS[1] (baidu): appKey is required',
    'APPS[2] (alipay): privateKey must be an RSA private key in PEM',
    'APPS[2] (alipay): alipayPublicKey must be an RSA public key in PEM',
    'APPS[2] (alipay): aesKey must be base64 of 16 bytes',
    'APPS[3] (alipay): privateKey must be an RSA private key in PEM',
    'APPS[3] (alipay): aesKey must be base64 of 16 bytes',
    'APPS[4] (douyin): secrte is not a field of a douyin app',
    'APPS[4] (douyin): rsaPrivateKey must be an RSA private key in PEM',
    'APPS[5] (kuaishou): its appid is also in WECHAT_APPID or WECHAT_APPS',
    'APPS[7] (qq): its appid is also APPS[6]\'s',
    'APPS[8] (wechat): secret must be a non-empty string',
    'APPS[9]: platform must be one of wechat, qq, douyin, baidu, alipay, kuaishou',
    'APPS[10]: must be an object such as {"platform":"wechat","appid":"...","secret":"..."}',
    'APPS[11] (douyin): apiBase must be an http:// or https:// URL'
  ])
  const text = problems.join('\n')
  for (const secret of secrets) t.notMatch(text, secret, 'no secret in the message')
  t.notMatch(text, /BEGIN|PRIVATE|MII/, 'no key material')
})

t.test('APPS that is not a JSON list is one problem; outside production an http apiBase is allowed, as WECHAT_API_BASE is', async (t) => {
  for (const text of ['not json', '{"platform":"qq"}', '[]']) {
    t.same(problemsOf({ APPS: text }), ['APPS: must be a JSON list like [{"platform":"douyin","appid":"tt...","secret":"..."}]'], text)
  }
  t.same(problemsOf({ NODE_ENV: 'development', ...apps({ platform: 'qq', appid: 'q1', secret: 's', apiBase: 'http://fake-qq:8080' }) }), [])
  t.same(parseConfig({ NODE_ENV: 'test' }).apps, [], 'no app configured')
})

t.test('production: APPS alone is enough apps, and no apps at all is refused', async (t) => {
  const { WECHAT_APPID: _appid, WECHAT_SECRET: _secret, ...withoutWechat } = production
  t.same(problemsOf({ ...withoutWechat, ...apps({ platform: 'douyin', appid: 'tt1', secret: 'd' }) }), [], 'a Douyin app and no WECHAT_APPID')
  t.same(problemsOf({ ...withoutWechat, ...apps({ platform: 'wechat', appid: 'wx9', secret: 'w' }) }), [], 'a WeChat app through APPS')
  t.match(problemsOf(withoutWechat), [/^WECHAT_APPID and WECHAT_SECRET \(or WECHAT_APPS, or APPS\): required when NODE_ENV=production/])
})

t.test('a wechat app of APPS reaches the WeChat code path, and takes no apiBase it would ignore', async (t) => {
  const config = parseConfig({ NODE_ENV: 'test', ...apps({ platform: 'wechat', appid: 'wx9', secret: 'w' }) })
  t.same(config.wechat.apps, [{ appid: 'wx9', secret: 'w' }])
  t.same(problemsOf({ NODE_ENV: 'test', ...apps({ platform: 'wechat', appid: 'wx9', secret: 'w', apiBase: 'http://127.0.0.1:9' }) }),
    ["APPS[0] (wechat): apiBase is not a field of a wechat app (WECHAT_API_BASE sets WeChat's)"])
})
