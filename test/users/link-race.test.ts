import t from 'tap'
import { build } from '../helper.js'
import { login, rowCounts } from '../helpers/auth.js'

t.test('two apps linking one person at the same moment end with one user, never a 500', async (t) => {
  const A = { appid: 'wxtest000000000a', secret: 'secret-a', bound: false }
  const B = { appid: 'wxtest000000000b', secret: 'secret-b', bound: false }
  const { app, fake, prisma } = await build(t, { apps: [A, B], env: { WECHAT_APPS: JSON.stringify([A, B]) } })
  const people = Array.from({ length: 6 }, (_v, i) => `twin-${i}`)
  for (const person of people) { await login(app, fake, person, A.appid); await login(app, fake, person, B.appid) }
  t.match(await rowCounts(prisma), { users: 12 })
  fake.bind(A.appid)
  fake.bind(B.appid)
  const results = await Promise.all(people.flatMap((person) => [A, B].map((x) =>
    app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code: fake.login(x.appid, person).code, appid: x.appid } }))))
  t.same(results.map((r) => r.statusCode), Array(12).fill(200), results.filter((r) => r.statusCode !== 200).map((r) => r.body).join('\n'))
  t.match(await rowCounts(prisma), { users: 6, identities: 12 })
})
