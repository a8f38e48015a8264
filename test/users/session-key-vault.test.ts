import { randomBytes } from 'node:crypto'
import t from 'tap'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyUndecryptable, SessionKeyVault } from '../../src/users/session-key-vault.js'

const key = () => randomBytes(32).toString('base64')
const SESSION_KEY = 'HyVFkGl5F5OQWJZZaNzBBg=='
const ROW = '0192c3a4-0000-7000-8000-000000000001'

t.test('round-trips, with a fresh nonce every time, and hides the plaintext', async (t) => {
  const vault = new SessionKeyVault(parseVaultKeys(`a:${key()}`))
  const one = vault.encrypt(SESSION_KEY, ROW)
  const two = vault.encrypt(SESSION_KEY, ROW)
  t.not(one, two)
  t.match(one, /^v1\.a\.[A-Za-z0-9_-]+$/)
  t.notMatch(one, SESSION_KEY)
  t.notMatch(Buffer.from(one.split('.')[2]!, 'base64url').toString('base64'), SESSION_KEY)
  t.equal(vault.decrypt(one, ROW), SESSION_KEY)
  t.equal(vault.decrypt(two, ROW), SESSION_KEY)
})

t.test('a ciphertext does not open with the wrong key, on another row, or altered', async (t) => {
  const text = key()
  const vault = new SessionKeyVault(parseVaultKeys(`a:${text}`))
  const sealed = vault.encrypt(SESSION_KEY, ROW)
  const impostor = new SessionKeyVault(parseVaultKeys(`a:${key()}`))
  t.throws(() => impostor.decrypt(sealed, ROW), SessionKeyUndecryptable)
  t.throws(() => vault.decrypt(sealed, '0192c3a4-0000-7000-8000-000000000002'), { message: /not this row/ })
  const payload = Buffer.from(sealed.split('.')[2]!, 'base64url')
  payload[14] = payload[14]! ^ 1
  t.throws(() => vault.decrypt(`v1.a.${payload.toString('base64url')}`, ROW), SessionKeyUndecryptable)
  t.throws(() => vault.decrypt('v1.b.AAAA', ROW), { message: /key b, which is not configured/ })
  t.throws(() => vault.decrypt('plaintext', ROW), { message: /not a session_key ciphertext/ })
  t.throws(() => vault.decrypt('v1.a.AAAA', ROW), { name: 'SessionKeyUndecryptable', message: /authentication failed/ }, 'too short to be one')
})

t.test('rotation: the new key encrypts, old keys still decrypt, stale ciphertexts are recognised', async (t) => {
  const oldKey = key()
  const before = new SessionKeyVault(parseVaultKeys(`old:${oldKey}`))
  const sealed = before.encrypt(SESSION_KEY, ROW)
  const after = new SessionKeyVault(parseVaultKeys(`new:${key()},old:${oldKey}`))
  t.equal(after.currentKeyId, 'new')
  t.equal(after.decrypt(sealed, ROW), SESSION_KEY)
  t.ok(after.isStale(sealed))
  t.notOk(after.isStale(after.encrypt(SESSION_KEY, ROW)))
})
