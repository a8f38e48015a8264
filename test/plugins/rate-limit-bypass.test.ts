import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

const IP = '203.0.113.66'

t.test('attack: a flood of bad Bearer tokens is counted by the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '5' } })
  for (const [method, url, payload] of [['GET', '/v1/me', undefined], ['POST', '/v1/auth/decrypt', { encryptedData: 'AAAA', iv: 'AAAA' }]] as const) {
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) {
      const res = await app.inject({ method, url, headers: bearer(`garbage.${i}.token`), payload, remoteAddress: `${IP.slice(0, -2)}${url.length}` })
      statuses.push(res.statusCode)
    }
    t.same(statuses, [401, 401, 401, 401, 401, 429, 429, 429], `${method} ${url}`)
  }
  const missing = []
  for (let i = 0; i < 6; i++) missing.push((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: '203.0.113.77' })).statusCode)
  t.same(missing, [401, 401, 401, 401, 401, 429], 'no header at all is counted too')
})

t.test('attack: the per-user limit comes on top of the per-IP limit, it does not replace it', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '6', RATE_LIMIT_USER_MAX: '100' } })
  const alice = await login(app, fake, 'alice')
  const bob = await login(app, fake, 'bob')
  const verify = (token: string) => app.inject({ method: 'POST', url: '/v1/auth/verify', headers: bearer(token), payload: { rawData: '{}', signature: '0'.repeat(40) }, remoteAddress: IP })
  const statuses = []
  for (const token of [alice, bob, alice, bob, alice, bob, alice].map((u) => u.accessToken)) statuses.push((await verify(token)).statusCode)
  t.same(statuses, [400, 400, 400, 400, 400, 400, 429], 'several users behind one IP share the per-IP budget')
})

t.test('attack: logins and refreshes count against the per-IP limit as well as their own', async (t) => {
  const { app, fake } = await build(t, { env: { RATE_LIMIT_GLOBAL_MAX: '3', RATE_LIMIT_AUTH_MAX: '100' } })
  const statuses = []
  for (let i = 0; i < 4; i++) {
    const { code } = fake.login(APP.appid, `user-${i}`)
    statuses.push((await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code }, remoteAddress: IP })).statusCode)
  }
  t.same(statuses, [200, 200, 200, 429])
})
