import { createHash, randomUUID } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { STATEMENTS, type ColumnKind } from '../../src/db/statements.js'
import '../../src/sessions/repository.js'
import '../../src/users/repository.js'
import '../../src/audit/log.js'
import { APP, build } from '../helper.js'
import { login, refresh } from '../helpers/auth.js'

// Every named statement of the request path, run against the real schema: the
// columns Postgres answers with (names, types, NULLs) must be the ones the
// statement declares, which is what its TypeScript row type is built from.

const KINDS: Record<number, ColumnKind> = { 25: 'string', 1043: 'string', 2950: 'string', 16: 'boolean', 21: 'number', 23: 'number', 1184: 'date', 17: 'bytes' }

function kindOf (value: unknown): ColumnKind | 'null' | 'other' {
  if (value === null) return 'null'
  if (value instanceof Date) return 'date'
  if (Buffer.isBuffer(value)) return 'bytes'
  const type = typeof value
  return type === 'string' || type === 'number' || type === 'boolean' ? type : 'other'
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest()

t.test('each statement answers exactly the columns it declares', async (t) => {
  const { app, fake, testDb, prisma } = await build(t)
  const alice = await login(app, fake, 'alice')
  const rotated = (await refresh(app, alice.refreshToken)).json()
  const { sid, sub } = app.jwt.decode<{ sid: string, sub: string }>(rotated.accessToken)!
  const identity = await prisma.identity.findFirstOrThrow({ select: { id: true, subject: true } })
  // A session of the previous scheme: its live token a refresh_tokens row.
  const { sid: legacySid } = app.jwt.decode<{ sid: string }>((await login(app, fake, 'bob')).accessToken)!
  const legacy = sha256(`rt_${randomUUID()}`)
  await prisma.$executeRaw`UPDATE sessions SET refresh_hash = NULL WHERE id = ${legacySid}::uuid`
  await prisma.$executeRaw`INSERT INTO refresh_tokens (session_id, token_hash, expires_at) VALUES (${legacySid}::uuid, ${legacy}, now() + interval '1 hour')`

  const values: Record<string, unknown[]> = {
    sessions_rotate: [sid, sha256(rotated.refreshToken), 'sealed', sha256(`rt2_${randomUUID()}`), 3600],
    sessions_token_state: [sid, sha256(alice.refreshToken), 0, 10],
    sessions_rotate_legacy: [legacy, 'sealed', sha256(`rt2_${randomUUID()}`), 3600],
    sessions_legacy_token_state: [legacy, 10],
    sessions_revoke: [sid, 'test'],
    sessions_live: [sid],
    sessions_end: [sid, 'test'],
    sessions_end_all_of: [sid, 'test'],
    users_find_identity: ['wechat', APP.appid, identity.subject],
    users_login_first: [randomUUID(), randomUUID(), APP.appid, 'o-statement-test', 'u-statement-test', 'v1.k1.x', randomUUID(), 3600, sha256('x'), 3600, 'wechat', 'openid'],
    users_login_returning: [identity.id, false, 'v1.k1.y', randomUUID(), APP.appid, 3600, sha256('y'), 3600],
    users_profile: [sid],
    users_session_keys: [sid],
    users_update_profile: [sub, 'nick', null, 1, null, null, null, null],
    users_update_phone: [sub, '+86 1', '1', '86'],
    audit_insert: [[new Date()], ['login'], ['ok'], [sub], [sid], [APP.appid], ['127.0.0.1'], ['ua'], ['req-1']]
  }
  t.same(STATEMENTS.map((s) => s.name).sort(), Object.keys(values).sort(), 'every statement is exercised here')

  const client = new pg.Client({ connectionString: testDb.url })
  await client.connect()
  t.teardown(() => client.end())
  for (const statement of STATEMENTS) {
    await client.query('BEGIN')
    try {
      const result = await client.query({ name: statement.name, text: statement.text, values: values[statement.name] })
      const declared = Object.entries(statement.columns).map(([name, column]) => [name, column.replace('?', '')])
      t.same(result.fields.map((f) => [f.name, KINDS[f.dataTypeID] ?? `oid ${f.dataTypeID}`]), declared, `${statement.name}: names and types`)
      if (declared.length > 0) t.ok(result.rows.length > 0, `${statement.name}: answered a row to check`)
      for (const row of result.rows as Record<string, unknown>[]) {
        for (const [name, column] of Object.entries(statement.columns)) {
          const kind = kindOf(row[name])
          if (kind === 'null') t.ok(column.endsWith('?'), `${statement.name}.${name}: NULL only where declared`)
          else t.equal(kind, column.replace('?', ''), `${statement.name}.${name}: value of the declared kind`)
        }
      }
    } finally {
      await client.query('ROLLBACK')
    }
  }
})
