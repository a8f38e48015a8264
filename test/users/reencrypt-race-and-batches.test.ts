import { execFile } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import pg from 'pg'
import t from 'tap'
import type { PrismaClient } from '../../src/generated/prisma/client.js'
import { reencryptSessionKeys } from '../../src/users/reencrypt.js'
import { parseVaultKeys } from '../../src/config/keys.js'
import { SessionKeyVault } from '../../src/users/session-key-vault.js'
import { APP, VAULT_KEYS, build, testDatabase } from '../helper.js'
import { bearer, login, type LoginBody } from '../helpers/auth.js'

// `npm run keys:reencrypt` (src/users/reencrypt.ts) runs while the service
// serves: a login may rewrite a row between the run's read and its write (the
// compare-and-swap must let the login win), and a real table spans several
// batches of 500 (the keyset pagination must visit every row once).

const NEW_KEY = `k2:${randomBytes(32).toString('base64')}`
const ROTATED = `${NEW_KEY},${VAULT_KEYS}`
const REENCRYPT_CLI = new URL('../../dist/cli/reencrypt.js', import.meta.url).pathname

interface Row { id: string, subject: string, session_key_enc: string, previous_session_key_enc: string | null }

/** The same Prisma Client, except that its first identity.updateMany on `rowId` first awaits `meanwhile`. */
function interleaved (prisma: PrismaClient, rowId: () => string, meanwhile: () => Promise<void>): PrismaClient {
  let done = false
  const model = new Proxy(prisma.identity, {
    get (target, property) {
      if (property !== 'updateMany') return Reflect.get(target, property)
      return async (args: { where: { id: string } }) => {
        if (!done && args.where.id === rowId()) { done = true; await meanwhile() }
        return target.updateMany(args as never)
      }
    }
  })
  return new Proxy(prisma, { get: (target, property) => property === 'identity' ? model : Reflect.get(target, property) })
}

t.test('re-encryption racing a login that rewrites the row: the login\'s session_key wins, the next runs finish the row', async (t) => {
  const before = await build(t)
  await login(before.app, before.fake, 'alice')
  await login(before.app, before.fake, 'alice')
  await login(before.app, before.fake, 'bob')
  // The service restarted with the new key first; the run moves the rest.
  const { app, fake, prisma } = await build(t, { env: { SESSION_KEY_ENCRYPTION_KEYS: ROTATED }, testDb: before.testDb, fake: before.fake })
  const vault = new SessionKeyVault(parseVaultKeys(ROTATED))
  const rows = async () => prisma.$queryRaw<Row[]>`SELECT id::text, subject, session_key_enc, previous_session_key_enc FROM identities ORDER BY subject`
  const aliceRow = async () => (await rows()).find((row) => row.subject === fake.openid(APP.appid, 'alice'))!
  const aliceId = (await aliceRow()).id
  const keyBefore = fake.sessionKey(APP.appid, 'alice')!

  let raced: LoginBody | undefined
  const result = await reencryptSessionKeys(interleaved(prisma, () => aliceId, async () => { raced = await login(app, fake, 'alice') }), vault)
  const keyNow = fake.sessionKey(APP.appid, 'alice')!
  t.not(keyNow, keyBefore, 'the racing login brought a new session_key')
  t.same(result, { scanned: 2, reencrypted: 1, undecryptable: [] }, 'bob re-encrypted; alice\'s write lost to the login')

  const alice = await aliceRow()
  t.equal(vault.decrypt(alice.session_key_enc, alice.id), keyNow, 'the stored key is the login\'s, not the run\'s stale copy')
  t.equal(vault.decrypt(alice.previous_session_key_enc!, alice.id), keyBefore, 'and the previous key is the one before it')
  const info = fake.userInfo(APP.appid, 'alice', { nickName: 'Alice' })
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(raced!.accessToken), payload: { encryptedData: info.encryptedData, iv: info.iv } })).statusCode, 200)

  t.same(await reencryptSessionKeys(prisma, vault), { scanned: 2, reencrypted: 1, undecryptable: [] }, 'the next run moves what the login left under the old key')
  t.same(await reencryptSessionKeys(prisma, vault), { scanned: 2, reencrypted: 0, undecryptable: [] }, 'then it reports 0: the old key may be dropped')
  const onlyNew = new SessionKeyVault(parseVaultKeys(NEW_KEY))
  for (const row of await rows()) {
    t.doesNotThrow(() => onlyNew.decrypt(row.session_key_enc, row.id))
    if (row.previous_session_key_enc !== null) t.doesNotThrow(() => onlyNew.decrypt(row.previous_session_key_enc!, row.id))
  }
})

t.test('more than one batch: 1201 identities, every row visited once, the undecryptable one reported; the CLI says the same', async (t) => {
  const testDb = await testDatabase(t)
  const oldVault = new SessionKeyVault(parseVaultKeys(VAULT_KEYS))
  const newVault = new SessionKeyVault(parseVaultKeys(ROTATED))
  const N = 1201
  const ids: string[] = Array.from({ length: N }, () => randomUUID())
  const plain = ids.map(() => randomBytes(16).toString('base64'))
  const previousPlain = ids.map((_id, i) => i % 3 === 0 ? randomBytes(16).toString('base64') : null)
  const current = ids.map((id, i) => oldVault.encrypt(plain[i]!, id))
  const previous = ids.map((id, i) => previousPlain[i] === null ? null : oldVault.encrypt(previousPlain[i]!, id))
  // Keyset order is by id: pick rows by their rank, so they land in the second and the third batch.
  const sorted = [...ids].sort()
  const broken = sorted[700]!
  const alreadyNew = sorted[1100]!
  current[ids.indexOf(broken)] = 'v1.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  current[ids.indexOf(alreadyNew)] = newVault.encrypt(plain[ids.indexOf(alreadyNew)]!, alreadyNew)
  previous[ids.indexOf(alreadyNew)] = null

  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  await client.query('INSERT INTO users (id) SELECT unnest($1::uuid[])', [ids])
  await client.query(`INSERT INTO identities (id, user_id, platform, appid, subject, subject_kind, session_key_enc, previous_session_key_enc)
    SELECT id, id, 'wechat', $2, 'o' || replace(id::text, '-', ''), 'openid', enc, prev FROM unnest($1::uuid[], $3::text[], $4::text[]) AS r(id, enc, prev)`, [ids, APP.appid, current, previous])

  const { prisma } = await build(t, { testDb, env: { SESSION_KEY_ENCRYPTION_KEYS: ROTATED } })
  const result = await reencryptSessionKeys(prisma, newVault)
  t.same(result, { scanned: N, reencrypted: N - 2, undecryptable: [broken] })

  const onlyNew = new SessionKeyVault(parseVaultKeys(NEW_KEY))
  const opened = (ciphertext: string | null, id: string): string | null | undefined => {
    if (ciphertext === null) return null
    try { return onlyNew.decrypt(ciphertext, id) } catch { return undefined }
  }
  const { rows } = await client.query<Row>('SELECT id::text, subject, session_key_enc, previous_session_key_enc FROM identities')
  let checked = 0
  for (const row of rows) {
    if (row.id === broken) { t.equal(row.session_key_enc, current[ids.indexOf(broken)], 'the undecryptable row is left as it was'); continue }
    const i = ids.indexOf(row.id)
    if (opened(row.session_key_enc, row.id) !== plain[i]) t.fail(`row ${i}: current key not under the new key with its plaintext`)
    if (row.id !== alreadyNew && opened(row.previous_session_key_enc, row.id) !== previousPlain[i]) t.fail(`row ${i}: previous key not under the new key with its plaintext`)
    checked++
  }
  t.equal(checked, N - 1, 'every other row is under the new key with its plaintext unchanged, the last batch included')

  // `npm run keys:reencrypt`, as an operator runs it (npm test builds dist first).
  const cli = await new Promise<{ code: number | null, stdout: string }>((resolve) => {
    execFile(process.execPath, [REENCRYPT_CLI], { cwd: tmpdir(), env: { PATH: process.env.PATH, NODE_ENV: 'test', DATABASE_URL: testDb.url, SESSION_KEY_ENCRYPTION_KEYS: ROTATED } },
      (error, stdout) => resolve({ code: error === null ? 0 : (error as { code?: number }).code ?? null, stdout }))
  })
  t.equal(cli.code, 2, 'exit 2: a row no key opens')
  t.match(cli.stdout, `scanned ${N} identities, re-encrypted 0 under key k2; 1 could not be decrypted with any configured key: ${broken}`)
})
