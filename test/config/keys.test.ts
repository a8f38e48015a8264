import { randomBytes } from 'node:crypto'
import t from 'tap'
import { parseVaultKeys } from '../../src/config/keys.js'

const key = () => randomBytes(32).toString('base64')

t.test('SESSION_KEY_ENCRYPTION_KEYS: the key list', async (t) => {
  const raw = key()
  const [derived] = parseVaultKeys(raw)
  t.match(derived!.id, /^[0-9a-f]{8}$/, 'an id is derived from the key when none is given')
  t.equal(parseVaultKeys(raw)[0]!.id, derived!.id, 'the same key gives the same id')
  t.same(parseVaultKeys(` k1:${raw} , k2:${key()} `).map((k) => k.id), ['k1', 'k2'])
  t.throws(() => parseVaultKeys(randomBytes(16).toString('base64')), { message: /key 1 is not a base64-encoded 32-byte key/ })
  t.throws(() => parseVaultKeys(`a:${raw},a:${key()}`), { message: /share one id/ })
  t.throws(() => parseVaultKeys(`bad id!:${raw}`), { message: /its id must be/ })
  t.throws(() => parseVaultKeys(' , '), { message: /no key/ })
})
