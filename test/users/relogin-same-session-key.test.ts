import t from 'tap'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, VAULT_KEYS, build } from '../helper.js'
import { bearer, type LoginBody } from '../helpers/auth.js'

// WeChat may answer a new wx.login() code with the session_key the user already
// has (the login state is still live). Such a login must not make the stored
// "previous" key a copy of the current one: the true previous key is what still
// opens data the client fetched before the last real change.

const PROFILE = { nickName: 'Alice' }
const CHECKSESSION = '/wxa/checksession'

interface Row { id: string, session_key_enc: string, previous_session_key_enc: string | null }

t.test('a re-login with an unchanged session_key keeps the true previous key: stored, and accepted by decrypt', async (t) => {
  const { app, fake, prisma } = await build(t)
  const vault = new SessionKeyVault(parseVaultKeys(VAULT_KEYS))
  const loginAs = async (sameSessionKey: boolean): Promise<LoginBody> => {
    const { code } = fake.login(APP.appid, 'alice', { sameSessionKey })
    const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
    t.equal(res.statusCode, 200)
    return res.json()
  }
  const stored = async (): Promise<{ current: string, previous: string | undefined }> => {
    const [row] = await prisma.$queryRaw<Row[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities`
    return {
      current: vault.decrypt(row!.session_key_enc, row!.id),
      previous: row!.previous_session_key_enc === null ? undefined : vault.decrypt(row!.previous_session_key_enc, row!.id)
    }
  }
  const decrypt = (token: string, data: { encryptedData: string, iv: string }) =>
    app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(token), payload: { encryptedData: data.encryptedData, iv: data.iv } })

  await loginAs(false)
  const k1 = fake.sessionKey(APP.appid, 'alice')!
  const d1 = fake.userInfo(APP.appid, 'alice', PROFILE)
  await loginAs(false)
  const k2 = fake.sessionKey(APP.appid, 'alice')!
  const d2 = fake.userInfo(APP.appid, 'alice', PROFILE)
  t.not(k2, k1)
  t.same(await stored(), { current: k2, previous: k1 })

  const same = await loginAs(true)
  t.equal(fake.sessionKey(APP.appid, 'alice'), k2, 'WeChat answered the new code with the same session_key')
  t.same(await stored(), { current: k2, previous: k1 }, 'the previous key is still k1, not a copy of k2')
  t.equal((await decrypt(same.accessToken, d1)).statusCode, 200, 'data sealed with k1 still decrypts')
  t.equal((await decrypt(same.accessToken, d2)).statusCode, 200, 'data sealed with k2 decrypts')

  const twice = await loginAs(true)
  t.same(await stored(), { current: k2, previous: k1 }, 'and after a second unchanged login too')
  t.equal((await decrypt(twice.accessToken, d1)).statusCode, 200)
  t.equal(fake.callCount(CHECKSESSION), 0, 'no decrypt needed WeChat: a stored key opened each')

  const changed = await loginAs(false)
  const k3 = fake.sessionKey(APP.appid, 'alice')!
  t.same(await stored(), { current: k3, previous: k2 }, 'a real change moves k2 to previous')
  t.equal((await decrypt(changed.accessToken, d2)).statusCode, 200)
  t.match((await decrypt(changed.accessToken, d1)).json(), { statusCode: 400, code: 'ENCRYPTED_DATA_INVALID' }, 'k1 is gone, as documented')
})
