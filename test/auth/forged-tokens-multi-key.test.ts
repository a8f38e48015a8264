import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import t from 'tap'
import { APP, ED25519_PEM, build } from '../helper.js'
import { claims, forge } from '../helpers/jwt.js'

// With JWT_PUBLIC_KEYS set (a rotation) the service verifies through
// @fastify/jwt's request path, picking the key by the token's kid; with one key
// it calls the prebuilt verifier directly (src/plugins/auth.ts). The forged
// tokens of test/plugins/auth.test.ts run there against the single-key path
// only: here the same battery runs against the several-keys path.

const OLD_PEM = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const publicPem = (pem: string): string => createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString()

type App = Awaited<ReturnType<typeof build>>['app']
const session = (app: App, authorization?: string) =>
  app.inject({ method: 'GET', url: '/v1/auth/session', ...(authorization !== undefined ? { headers: { authorization } } : {}) })

async function kids (app: App): Promise<string[]> {
  return (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((key: { kid: string }) => key.kid)
}

t.test('several keys: forged, expired and kid-less tokens each get their coded 401', async (t) => {
  const { app } = await build(t, { env: { JWT_PUBLIC_KEYS: publicPem(OLD_PEM) } })
  const [currentKid, oldKid] = await kids(app)
  t.ok(currentKid !== undefined && oldKid !== undefined && currentKid !== oldKid, 'two keys published: the several-keys path is in use')
  const current = { alg: 'EdDSA', typ: 'JWT', kid: currentKid }
  const old = { alg: 'EdDSA', typ: 'JWT', kid: oldKid }
  t.equal((await session(app, `Bearer ${forge(current, claims())}`)).statusCode, 200, 'the forge helper makes tokens the current key verifies')
  t.equal((await session(app, `Bearer ${forge(old, claims(), OLD_PEM)}`)).statusCode, 200, 'and tokens the previous key verifies, by its kid')

  t.match((await session(app)).json(), { statusCode: 401, code: 'AUTH_TOKEN_MISSING' }, 'no Authorization header')
  t.match((await session(app, 'Basic dXNlcjpwYXNz')).json(), { statusCode: 401, code: 'AUTH_TOKEN_MISSING' }, 'not the Bearer scheme')

  const now = Math.floor(Date.now() / 1000)
  const expired = claims({ iat: now - 1000, exp: now - 60 })
  t.match((await session(app, `Bearer ${forge(current, expired)}`)).json(), { statusCode: 401, code: 'ACCESS_TOKEN_EXPIRED' }, 'expired, current key')
  t.match((await session(app, `Bearer ${forge(old, expired, OLD_PEM)}`)).json(), { statusCode: 401, code: 'ACCESS_TOKEN_EXPIRED' }, 'expired, previous key')

  const invalid: [string, string][] = [
    ['unknown kid', forge({ ...current, kid: 'not-a-configured-kid' }, claims())],
    ['no kid', forge({ alg: 'EdDSA', typ: 'JWT' }, claims())],
    ['the previous key\'s kid on a token signed by the current key', forge(old, claims())],
    ['the current kid on a token signed by the previous key', forge(current, claims(), OLD_PEM)],
    ['a key never configured, under the current kid', forge(current, claims(), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())],
    ['alg none with the current kid', forge({ alg: 'none', typ: 'JWT', kid: currentKid }, claims())],
    ['alg none without kid', forge({ alg: 'none', typ: 'JWT' }, claims())],
    ['HS256 keyed with the current public key', forge({ alg: 'HS256', typ: 'JWT', kid: currentKid }, claims(), publicPem(ED25519_PEM))],
    ['HS256 keyed with the previous public key', forge({ alg: 'HS256', typ: 'JWT', kid: oldKid }, claims(), publicPem(OLD_PEM))],
    ['garbage', 'not.a.jwt']
  ]
  for (const [name, token] of invalid) {
    t.match((await session(app, `Bearer ${token}`)).json(), { statusCode: 401, code: 'ACCESS_TOKEN_INVALID' }, name)
  }
})

t.test('the scheme written `bearer` is answered the same with one key and with several: accepted', async (t) => {
  const single = await build(t)
  const several = await build(t, { env: { JWT_PUBLIC_KEYS: publicPem(OLD_PEM) }, fake: single.fake, testDb: single.testDb })
  t.equal((await kids(single.app)).length, 1)
  t.equal((await kids(several.app)).length, 2)
  // Both apps sign with ED25519_PEM: one token verifies on both.
  const token = single.app.signAccessToken({ sub: randomUUID(), sid: randomUUID(), appid: APP.appid })
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const one = await session(single.app, `${scheme} ${token}`)
    const many = await session(several.app, `${scheme} ${token}`)
    t.equal(one.statusCode, 200, `${scheme}, one key`)
    t.equal(many.statusCode, 200, `${scheme}, several keys`)
    t.same(one.json(), many.json(), `${scheme}: the same answer`)
  }
  for (const header of ['bearer', 'bearer  ' + token, `bearer ${token} extra`, `Bearer\t${token}`]) {
    const one = await session(single.app, header)
    const many = await session(several.app, header)
    t.equal(one.statusCode, 401, `${JSON.stringify(header.slice(0, 12))}: refused with one key`)
    t.equal(many.json().code, one.json().code, `${JSON.stringify(header.slice(0, 12))}: the same code with several keys (${one.json().code as string})`)
  }
})
