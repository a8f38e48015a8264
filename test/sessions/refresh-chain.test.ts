import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { Database } from '../../src/db/database.js'
import type { PrismaClient } from '../../src/generated/prisma/client.js'
import { RefreshTokens } from '../../src/sessions/refresh-token.js'
import { parseVaultKeys } from '../../src/config/keys.js'
import { VAULT_KEYS, build } from '../helper.js'
import { bearer, login, refresh } from '../helpers/auth.js'

// The refresh-token scheme of src/sessions/refresh-token.ts, attacked: a token
// names its session and generation under a MAC, the session row holds the chain.

const sidOf = (app: Awaited<ReturnType<typeof build>>['app'], accessToken: string): string => app.jwt.decode<{ sid: string }>(accessToken)!.sid

async function sessionRow (prisma: PrismaClient, sid: string): Promise<{ revoked_reason: string | null, generation: number }> {
  const [row] = await prisma.$queryRaw<{ revoked_reason: string | null, generation: number }[]>`
    SELECT revoked_reason, refresh_generation AS generation FROM sessions WHERE id = ${sid}::uuid`
  return row!
}

/** Counts the session statements the service runs from now on. */
function countSessionQueries (database: Database): () => number {
  let n = 0
  const run = database.run.bind(database)
  database.run = async (statement, values) => {
    if (statement.name.startsWith('sessions_')) n++
    return run(statement, values)
  }
  return () => n
}

/** A token of the right shape naming `sid` at `generation`, with a MAC that is not the service's. */
function forged (sid: string, generation: number, keyId: string): string {
  const body = Buffer.alloc(20)
  Buffer.from(sid.replace(/-/g, ''), 'hex').copy(body)
  body.writeUInt32BE(generation, 16)
  return `rt2.${keyId}.${Buffer.concat([body, randomBytes(48)]).toString('base64url')}`
}

const keyIdOf = (token: string): string => token.split('.')[1]!

/** As if the grace window had passed since every rotation so far. */
const graceOver = (prisma: PrismaClient) => prisma.$executeRaw`UPDATE sessions SET refresh_retired_at = refresh_retired_at - interval '1 hour'`

t.test('attack: a forged old-generation token naming a victim\'s session revokes nothing, and reaches no session statement', async (t) => {
  const { app, fake, prisma, database } = await build(t, { env: { REFRESH_REUSE_GRACE: '0' } })
  const victim = await login(app, fake, 'victim')
  const sid = sidOf(app, victim.accessToken)
  let current = victim.refreshToken
  for (let i = 0; i < 3; i++) current = (await refresh(app, current)).json().refreshToken
  const queries = countSessionQueries(database)
  for (const generation of [0, 1, 2, 3, 4]) {
    const res = await refresh(app, forged(sid, generation, keyIdOf(victim.refreshToken)))
    t.match(res.json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' }, `generation ${generation}`)
  }
  // The MAC under a key of the attacker's making, with the victim's key id.
  const rogue = new RefreshTokens([{ id: keyIdOf(victim.refreshToken), key: randomBytes(32) }])
  t.match((await refresh(app, rogue.issue(sid, 0).token)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' }, 'a MAC under another key')
  // A genuine old token altered in one character of its random part.
  const altered = victim.refreshToken.slice(0, -30) + (victim.refreshToken.at(-30) === 'A' ? 'B' : 'A') + victim.refreshToken.slice(-29)
  t.match((await refresh(app, altered)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' }, 'an old token altered')
  t.equal(queries(), 0, 'refused before any session statement')
  t.same(await sessionRow(prisma, sid), { revoked_reason: null, generation: 3 }, 'the victim\'s session is untouched')
  t.equal((await refresh(app, current)).statusCode, 200, 'and the victim refreshes on')
})

t.test('attack: a token MAC\'d under a key id that is not configured is invalid; a dropped key\'s tokens with it', async (t) => {
  const { app, fake, prisma, database, testDb } = await build(t)
  const alice = await login(app, fake, 'alice')
  const sid = sidOf(app, alice.accessToken)
  const queries = countSessionQueries(database)
  const unknown = new RefreshTokens([{ id: 'rogue', key: randomBytes(32) }])
  t.match((await refresh(app, unknown.issue(sid, 0).token)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' })
  t.equal(queries(), 0, 'refused before any session statement')

  // Rotation: a new key first keeps the old key's tokens working, and issues under the new one.
  const [old] = parseVaultKeys(VAULT_KEYS)
  const next = `k2:${randomBytes(32).toString('base64')}`
  const rotated = await build(t, { testDb, fake, env: { SESSION_KEY_ENCRYPTION_KEYS: `${next},${VAULT_KEYS}` } })
  const r1 = await refresh(rotated.app, alice.refreshToken)
  t.equal(r1.statusCode, 200, 'a token under the old key rotates while that key is configured')
  t.equal(keyIdOf(r1.json().refreshToken), 'k2', 'its successor is under the new key')
  const bob = await login(app, fake, 'bob')
  t.equal(keyIdOf(bob.refreshToken), old!.id)
  const dropped = await build(t, { testDb, fake, env: { SESSION_KEY_ENCRYPTION_KEYS: next } })
  t.match((await refresh(dropped.app, bob.refreshToken)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_INVALID' }, 'the old key dropped: its tokens are invalid')
  t.equal((await sessionRow(prisma, sidOf(app, bob.accessToken))).revoked_reason, null, 'and revoke nothing')
  t.equal((await refresh(dropped.app, r1.json().refreshToken)).statusCode, 200, 'tokens under the new key live on')
})

t.test('attack: every earlier generation, up to 5 rotations back, is recognised as reuse and revokes the session', async (t) => {
  const { app, fake, prisma } = await build(t)
  for (const back of [1, 2, 3, 4, 5]) {
    const first = await login(app, fake, `user-${back}`)
    const chain = [first.refreshToken]
    for (let i = 0; i < 6; i++) chain.push((await refresh(app, chain.at(-1)!)).json().refreshToken)
    await graceOver(prisma)
    const replay = await refresh(app, chain[chain.length - 1 - back]!)
    t.match(replay.json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' }, `${back} rotation(s) back`)
    t.equal((await sessionRow(prisma, sidOf(app, first.accessToken))).revoked_reason, 'refresh_reuse')
    t.match((await refresh(app, chain.at(-1)!)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'the live end dies with it')
  }
  // Within the grace window too, once the successor was itself rotated.
  const a = await login(app, fake, 'grace')
  const r1 = (await refresh(app, a.refreshToken)).json()
  await refresh(app, r1.refreshToken)
  t.match((await refresh(app, a.refreshToken)).json(), { statusCode: 401, code: 'REFRESH_TOKEN_REUSED' }, 'two back, inside the window')
})

t.test('attack: replays within the grace window all get the same successor, each with a fresh access token', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const owner = (await refresh(app, first.refreshToken)).json()
  const replays = []
  for (let i = 0; i < 3; i++) replays.push((await refresh(app, first.refreshToken)).json())
  t.same(replays.map((r) => r.refreshToken), Array(3).fill(owner.refreshToken), 'the same successor')
  t.equal(new Set([owner, ...replays].map((r) => r.accessToken)).size, 4, 'fresh access tokens')
  t.equal((await sessionRow(prisma, sidOf(app, first.accessToken))).generation, 1, 'one rotation')
  t.equal((await refresh(app, owner.refreshToken)).statusCode, 200, 'the successor works')
})

t.test('attack: 30 concurrent refreshes of one token give one successor and one rotation', async (t) => {
  const { app, fake, prisma } = await build(t)
  const first = await login(app, fake, 'alice')
  const results = await Promise.all(Array.from({ length: 30 }, () => refresh(app, first.refreshToken)))
  t.same(results.map((r) => r.statusCode), Array(30).fill(200))
  t.equal(new Set(results.map((r) => r.json().refreshToken)).size, 1, 'one successor')
  t.equal((await sessionRow(prisma, sidOf(app, first.accessToken))).generation, 1, 'one rotation')
})

t.test('attack: no refresh succeeds after logout, logout-all or a ban, not even a grace-window replay', async (t) => {
  const { app, fake, prisma } = await build(t)
  const a = await login(app, fake, 'alice')
  const a1 = (await refresh(app, a.refreshToken)).json()
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout', headers: bearer(a1.accessToken) })).statusCode, 204)
  t.match((await refresh(app, a1.refreshToken)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'logout: the current token')
  t.match((await refresh(app, a.refreshToken)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'logout: the previous one, in its window')

  const b = await login(app, fake, 'alice')
  const c = await login(app, fake, 'alice')
  const b1 = (await refresh(app, b.refreshToken)).json()
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/logout-all', headers: bearer(c.accessToken) })).statusCode, 204)
  for (const token of [b.refreshToken, b1.refreshToken, c.refreshToken]) t.match((await refresh(app, token)).json(), { statusCode: 401, code: 'SESSION_REVOKED' }, 'logout-all')

  const d = await login(app, fake, 'dave')
  const d1 = (await refresh(app, d.refreshToken)).json()
  await prisma.user.update({ where: { id: d.user.id }, data: { disabledAt: new Date() } })
  for (const token of [d.refreshToken, d1.refreshToken]) t.match((await refresh(app, token)).json(), { statusCode: 403, code: 'USER_DISABLED' }, 'ban')
})

t.test('attack: 50 refreshes insert no refresh_tokens row', async (t) => {
  const { app, fake, prisma } = await build(t)
  const count = async () => (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM refresh_tokens`)[0]!.n
  let token = (await login(app, fake, 'alice')).refreshToken
  const before = await count()
  for (let i = 0; i < 50; i++) {
    const res = await refresh(app, token)
    t.equal(res.statusCode, 200)
    token = res.json().refreshToken
  }
  const after = await count()
  t.comment(`refresh_tokens rows: ${before} before, ${after} after 50 refreshes`)
  t.equal(after, before, 'the table does not grow with refreshes')
})

t.test('malformed tokens are invalid before any session statement', async (t) => {
  const { app, fake, database } = await build(t)
  const alice = await login(app, fake, 'alice')
  const [prefix, keyId, payload] = alice.refreshToken.split('.') as [string, string, string]
  // The last character of 68 bytes in base64url carries 4 bits and 2 unused ones: setting one spells the same bytes.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const variant = payload.slice(0, -1) + alphabet[alphabet.indexOf(payload.at(-1)!) | 1]!
  t.same(Buffer.from(variant, 'base64url'), Buffer.from(payload, 'base64url'), 'a second spelling of the same bytes')
  const queries = countSessionQueries(database)
  for (const token of [`${prefix}.${keyId}.${payload.slice(1)}`, `${prefix}.${keyId}.${payload}A`, `${prefix}.${keyId}.${variant}`, `${prefix}..${payload}`, `rt3.${keyId}.${payload}`, 'rt2', '']) {
    t.match((await refresh(app, token)).json(), { statusCode: token === '' ? 400 : 401 }, JSON.stringify(token.slice(0, 12)))
  }
  t.equal(queries(), 0)
  t.equal((await refresh(app, alice.refreshToken)).statusCode, 200, 'the genuine token still works')
})
