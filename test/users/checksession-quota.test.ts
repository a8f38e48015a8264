import t from 'tap'
import { build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

t.test('attack: a client looping on bad encrypted data does not spend the app\'s WeChat quota', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  const junk = sealWithKey(Buffer.alloc(16, 7).toString('base64'), { nickName: 'x' })
  for (let i = 0; i < 5; i++) {
    t.match((await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(alice.accessToken), payload: junk })).json(), { code: 'ENCRYPTED_DATA_INVALID' })
  }
  t.equal(fake.callCount('/wxa/checksession'), 1, 'the verdict is remembered for this key')
  const again = await login(app, fake, 'alice')
  await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(again.accessToken), payload: junk })
  t.equal(fake.callCount('/wxa/checksession'), 2, 'a new session_key is asked about afresh')
})
