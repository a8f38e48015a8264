import { randomBytes } from 'node:crypto'
import t from 'tap'
import { reencryptSessionKeys } from '../../src/users/reencrypt.js'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, VAULT_KEYS, build } from '../helper.js'
import { login } from '../helpers/auth.js'

interface Row { id: string, session_key_enc: string, previous_session_key_enc: string | null }

t.test('re-encryption moves every session_key to the current key, and is idempotent', async (t) => {
  const { app, fake, prisma } = await build(t)
  for (const user of ['a', 'b', 'c']) await login(app, fake, user)
  await login(app, fake, 'a')
  const newKey = `k2:${randomBytes(32).toString('base64')}`
  const rotated = new SessionKeyVault(parseVaultKeys(`${newKey},${VAULT_KEYS}`))

  const result = await reencryptSessionKeys(prisma, rotated)
  t.same(result, { scanned: 3, reencrypted: 3, undecryptable: [] })
  const rows = await prisma.$queryRaw<Row[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities`
  const onlyNew = new SessionKeyVault(parseVaultKeys(newKey))
  for (const row of rows) {
    t.match(row.session_key_enc, /^v1\.k2\./)
    t.doesNotThrow(() => onlyNew.decrypt(row.session_key_enc, row.id), 'readable without the old key')
    if (row.previous_session_key_enc !== null) t.doesNotThrow(() => onlyNew.decrypt(row.previous_session_key_enc!, row.id))
  }
  const a = rows.find((row) => row.previous_session_key_enc !== null)!
  t.equal(onlyNew.decrypt(a.session_key_enc, a.id), fake.sessionKey(APP.appid, 'a'), 'the plaintext is unchanged')
  t.same(await reencryptSessionKeys(prisma, rotated), { scanned: 3, reencrypted: 0, undecryptable: [] })
})

t.test('rows no configured key opens are reported by id and left as they are', async (t) => {
  const { app, fake, prisma } = await build(t)
  await login(app, fake, 'a')
  const stranger = new SessionKeyVault(parseVaultKeys(`k9:${randomBytes(32).toString('base64')}`))
  const [before] = await prisma.$queryRaw<Row[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities`
  const result = await reencryptSessionKeys(prisma, stranger)
  t.same(result, { scanned: 1, reencrypted: 0, undecryptable: [before!.id] })
  const [after] = await prisma.$queryRaw<Row[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities`
  t.same(after, before)
})

t.test('a ciphertext copied onto another row does not decrypt there', async (t) => {
  const { app, fake, prisma } = await build(t)
  await login(app, fake, 'a')
  await login(app, fake, 'b')
  await prisma.$executeRaw`UPDATE identities SET session_key_enc = (SELECT session_key_enc FROM identities ORDER BY subject LIMIT 1)`
  const rows = await prisma.$queryRaw<Row[]>`SELECT id::text, session_key_enc, previous_session_key_enc FROM identities ORDER BY subject`
  const vault = new SessionKeyVault(parseVaultKeys(VAULT_KEYS))
  t.doesNotThrow(() => vault.decrypt(rows[0]!.session_key_enc, rows[0]!.id))
  t.throws(() => vault.decrypt(rows[1]!.session_key_enc, rows[1]!.id), { name: 'SessionKeyUndecryptable' })
})

t.test('an identity without a session_key (Alipay) is scanned and left as it is', async (t) => {
  const { app, fake, prisma } = await build(t)
  await login(app, fake, 'a')
  const [{ id: userId }] = await prisma.$queryRaw<{ id: string }[]>`SELECT id::text FROM users` as [{ id: string }]
  await prisma.$executeRaw`INSERT INTO identities (user_id, platform, appid, subject, subject_kind) VALUES (${userId}::uuid, 'alipay', '2021000000000001', '2088000000000001', 'user_id')`
  const newKey = `k2:${randomBytes(32).toString('base64')}`
  t.same(await reencryptSessionKeys(prisma, new SessionKeyVault(parseVaultKeys(`${newKey},${VAULT_KEYS}`))), { scanned: 2, reencrypted: 1, undecryptable: [] })
  t.same(await prisma.$queryRaw`SELECT session_key_enc, previous_session_key_enc FROM identities WHERE platform = 'alipay'`,
    [{ session_key_enc: null, previous_session_key_enc: null }])
})
