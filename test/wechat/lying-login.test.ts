import t from 'tap'
import { APP, build } from '../helper.js'
import { rowCounts } from '../helpers/auth.js'

// wechat/client.ts code2session() checks only `typeof openid/session_key === 'string'`.
// The columns are VARCHAR(128) (openid, unionid) and VARCHAR(512) (session_key_enc),
// and Postgres text refuses NUL: a WeChat answer outside those bounds reaches the
// INSERT and comes back as 500 INTERNAL_ERROR, where docs/api.md promises a 502
// WECHAT_UNAVAILABLE for "an unreadable answer" and docs/security.md "no 500 from what clients or WeChat send".
// An empty openid is accepted as an identity: every login WeChat answers with
// openid "" lands in ONE account.

const KEY = 'AAAAAAAAAAAAAAAAAAAAAA=='

t.test('attack: lying jscode2session answers give 500s', async (t) => {
  const { app, fake } = await build(t)
  for (const [label, body] of <[string, object][]>[
    ['openid of 200 chars', { openid: 'o'.repeat(200), session_key: KEY }],
    ['openid with NUL', { openid: 'o\u0000x', session_key: KEY }],
    ['unionid of 200 chars', { openid: 'o-ok-1', session_key: KEY, unionid: 'u'.repeat(200) }],
    ['session_key of 600 chars', { openid: 'o-ok-2', session_key: 'A'.repeat(600) }]
  ]) {
    const { code } = fake.login(APP.appid, 'x')
    fake.setFault({ body, times: 1 })
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
    t.comment(`${label}: ${res.statusCode} ${res.json().code}`)
    // Failed on cd7c1d9 (500 INTERNAL_ERROR).
    t.not(res.statusCode, 500, label)
  }
})

t.test('attack: an empty openid is one shared account', async (t) => {
  const { app, fake, prisma } = await build(t)
  const ids = []
  for (const user of ['amy', 'ben']) {
    const { code } = fake.login(APP.appid, user)
    fake.setFault({ body: { openid: '', session_key: KEY }, times: 1 })
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
    t.comment(`${user}: ${res.statusCode}`)
    if (res.statusCode === 200) ids.push(res.json().user.id)
  }
  t.comment(`users: ${ids.join(', ')}; rows ${JSON.stringify(await rowCounts(prisma))}`)
  // Failed on cd7c1d9: both logins are 200 and get the same user.
  t.equal(ids.length, 0, 'an answer without a usable openid is refused (502), never an account')
})
