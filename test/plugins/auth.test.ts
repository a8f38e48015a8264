import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { openDatabase } from '../../src/db/database.js'
import { createLogger } from '../../src/logger.js'
import { APP, ED25519_PEM, build, testConfig } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { b64, claims, forge } from '../helpers/jwt.js'

const session = (app: Awaited<ReturnType<typeof build>>['app'], token: string) =>
  app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(token) })

t.test('a token the service signed is accepted; the session route needs no database', async (t) => {
  const { app, fake } = await build(t)
  const a = await login(app, fake, 'alice')
  const res = await session(app, a.accessToken)
  t.equal(res.statusCode, 200)
  t.match(res.json(), { userId: a.user.id, appid: APP.appid, expiresAt: /^\d{4}-/ })

  // The same keys on an app whose database does not exist: the token is still trusted.
  const url = 'postgresql://postgres@127.0.0.1:1/none'
  const offline = await buildApp(testConfig(url), { db: openDatabase({ url, poolSize: 1 }), logger: createLogger('silent') })
  t.teardown(() => offline.close())
  t.equal((await session(offline, a.accessToken)).statusCode, 200)
  t.match((await offline.inject({ method: 'GET', url: '/v1/me', headers: bearer(a.accessToken) })).json(), { statusCode: 503, code: 'DATABASE_UNAVAILABLE' })
})

t.test('each kind of bad token gets its own 401 code', async (t) => {
  const { app } = await build(t)
  const kid = JSON.parse(Buffer.from((app.signAccessToken({ sub: randomUUID(), sid: randomUUID(), appid: APP.appid })).split('.')[0]!, 'base64url').toString()).kid
  const header = { alg: 'EdDSA', typ: 'JWT', kid }
  t.equal((await session(app, forge(header, claims()))).statusCode, 200, 'the forge helper makes valid tokens')

  const missing = await app.inject({ method: 'GET', url: '/v1/auth/session' })
  t.match(missing.json(), { statusCode: 401, code: 'AUTH_TOKEN_MISSING' })
  const now = Math.floor(Date.now() / 1000)
  t.match((await session(app, forge(header, claims({ iat: now - 1000, exp: now - 60 })))).json(), { statusCode: 401, code: 'ACCESS_TOKEN_EXPIRED' })
  t.equal((await session(app, forge(header, claims({ exp: now - 2 })))).statusCode, 200, 'within the clock tolerance')

  const invalid: [string, string][] = [
    ['alg none', forge({ alg: 'none', typ: 'JWT' }, claims())],
    ['HS256 signed with the public key', forge({ alg: 'HS256', typ: 'JWT', kid }, claims(), createPublicKey(ED25519_PEM).export({ type: 'spki', format: 'pem' }).toString())],
    ['wrong audience', forge(header, claims({ aud: 'another-service' }))],
    ['wrong issuer', forge(header, claims({ iss: 'someone-else' }))],
    ['missing sid', forge(header, claims({ sid: undefined }))],
    ['another key', forge(header, claims(), generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())],
    ['tampered payload', (() => { const [h, , s] = forge(header, claims()).split('.'); return `${h}.${b64(claims({ sub: randomUUID() }))}.${s}` })()],
    ['garbage', 'not.a.jwt']
  ]
  for (const [name, token] of invalid) {
    t.match((await session(app, token)).json(), { statusCode: 401, code: 'ACCESS_TOKEN_INVALID' }, name)
  }
  const basic = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.match(basic.json(), { statusCode: 401, code: 'AUTH_TOKEN_MISSING' }, 'not a Bearer scheme: no access token was sent')
})

t.test('JWKS publishes the public key; rotation accepts the previous key by kid', async (t) => {
  const { app, fake } = await build(t)
  const old = await login(app, fake, 'alice')
  const oldJwks = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.match(oldJwks, { keys: [{ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: /.+/, x: /.+/ }] })
  t.notOk('d' in oldJwks.keys[0], 'no private part')

  const nextPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const oldPublic = createPublicKey(ED25519_PEM).export({ type: 'spki', format: 'pem' }).toString()
  const rotated = await build(t, { env: { JWT_PRIVATE_KEY: nextPem, JWT_PUBLIC_KEYS: oldPublic }, fake })
  const jwks = (await rotated.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.equal(jwks.keys.length, 2)
  t.equal(jwks.keys[1].kid, oldJwks.keys[0].kid)
  t.equal((await session(rotated.app, old.accessToken)).statusCode, 200, 'tokens from before the rotation still verify')
  const fresh = rotated.app.signAccessToken({ sub: randomUUID(), sid: randomUUID(), appid: APP.appid })
  t.equal((await session(rotated.app, fresh)).statusCode, 200)
  t.equal((await session(app, fresh)).statusCode, 401, 'the old deployment does not know the new key')

  const dropped = await build(t, { env: { JWT_PRIVATE_KEY: nextPem }, fake })
  t.match((await session(dropped.app, old.accessToken)).json(), { code: 'ACCESS_TOKEN_INVALID' }, 'once the old key is dropped its tokens stop working')
})

t.test('ES256 keys work too', async (t) => {
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const { app, fake } = await build(t, { env: { JWT_PRIVATE_KEY: pem } })
  const a = await login(app, fake, 'alice')
  t.equal(JSON.parse(Buffer.from(a.accessToken.split('.')[0]!, 'base64url').toString()).alg, 'ES256')
  t.equal((await session(app, a.accessToken)).statusCode, 200)
  t.match((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(), { keys: [{ kty: 'EC', crv: 'P-256', alg: 'ES256' }] })
})

t.test('HS256 with a shared secret for single-service setups: no JWKS', async (t) => {
  const secret = 'a-shared-secret-of-at-least-32-characters'
  const { app, fake } = await build(t, { env: { JWT_PRIVATE_KEY: '', JWT_SECRET: secret } })
  const a = await login(app, fake, 'alice')
  t.match(JSON.parse(Buffer.from(a.accessToken.split('.')[0]!, 'base64url').toString()), { alg: 'HS256' })
  t.equal((await session(app, a.accessToken)).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).statusCode, 404)
  t.match((await session(app, forge({ alg: 'HS256', typ: 'JWT' }, claims(), 'another-secret-of-at-least-32-chars!'))).json(), { code: 'ACCESS_TOKEN_INVALID' })
})
