import pg from 'pg'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { Pruner } from '../../src/maintenance/pruner.js'
import { testDatabase } from '../helper.js'

// A prune pass must cost what it deletes, however big the tables are. Every
// statement the pruner sends about sessions or refresh tokens is first run
// under EXPLAIN (ANALYZE, FORMAT JSON) in a transaction that is rolled back,
// then for real: no sequential scan of either table, and no more rows read than
// the statement deletes (or returns), times a small factor.

const DAY = 86_400
const SESSIONS = 200_000
const FACTOR = 3

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Index Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  Plans?: PlanNode[]
}

interface Explained { text: string, out: number, read: number, scans: string[] }

function scansOf (node: PlanNode, into: { read: number, scans: string[] }): void {
  if (node['Relation Name'] !== undefined) {
    into.read += (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops']
    if (node['Node Type'] !== 'ModifyTable') into.scans.push(`${node['Node Type']} on ${node['Relation Name']}${node['Index Name'] !== undefined ? ` using ${node['Index Name']}` : ''}`)
  }
  for (const child of node.Plans ?? []) scansOf(child, into)
}

/** While installed, every pool query touching sessions or refresh_tokens is explained (and rolled back) before it runs. */
function explainEveryStatement (explained: Explained[]): () => void {
  type Query = (this: pg.Pool, config: string | pg.QueryConfig, values?: unknown[]) => Promise<pg.QueryResult>
  const patched = pg.Pool.prototype as unknown as { query: Query }
  const original = patched.query
  const watched = /\b(sessions|refresh_tokens)\b/
  patched.query = async function (this: pg.Pool, config: string | pg.QueryConfig, values?: unknown[]) {
    const text = typeof config === 'string' ? config : config.text
    const args = (typeof config === 'string' ? values : config.values) ?? []
    if (!watched.test(text) || /^\s*EXPLAIN\b/i.test(text)) return original.call(this, config, values)
    const client = await this.connect()
    const into = { read: 0, scans: [] as string[] }
    try {
      await client.query('BEGIN')
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>({ text: `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values: args })
      scansOf(rows[0]!['QUERY PLAN'][0].Plan, into)
    } finally {
      await client.query('ROLLBACK')
      client.release()
    }
    const result = await original.call(this, config, values)
    explained.push({ text: text.replace(/\s+/g, ' ').trim(), out: result.command === 'SELECT' ? result.rows.length : result.rowCount ?? 0, ...into })
    return result
  }
  return () => { patched.query = original }
}

/**
 * SESSIONS sessions of 1000 users, each with its current token on its row and two retired ones of the previous scheme;
 * about a tenth of every kind of row is due.
 */
async function seed (url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`
      INSERT INTO users (id) SELECT gen_random_uuid() FROM generate_series(1, 1000);
      INSERT INTO identities (user_id, platform, appid, subject, subject_kind, session_key_enc)
        SELECT id, 'wechat', 'wxseed', 'o-' || row_number() OVER (), 'openid', 'sealed' FROM users;
      CREATE TEMP TABLE seed AS
        SELECT g, gen_random_uuid() AS id, i.user_id, i.id AS identity_id,
          CASE WHEN g % 20 = 1 THEN now() - make_interval(secs => 60 + random() * 30 * ${DAY}) ELSE now() + interval '60 days' END AS expires_at,
          CASE WHEN g % 20 = 2 THEN now() - interval '30 days' - make_interval(secs => 60 + random() * 30 * ${DAY}) END AS revoked_at
        FROM generate_series(1, ${SESSIONS}) g
        JOIN (SELECT id, user_id, row_number() OVER () - 1 AS n FROM identities) i ON i.n = g % 1000;
      -- Its current refresh token on the row: expired unused for the idle sessions (g % 20 = 0), never after its
      -- session, at most REFRESH_TOKEN_TTL after a revocation.
      INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, revoked_at, revoked_reason, refresh_generation, refresh_hash, refresh_expires_at)
        SELECT id, user_id, identity_id, 'wxseed', expires_at, revoked_at, CASE WHEN revoked_at IS NOT NULL THEN 'logout' END, 3, sha256(('live' || g)::bytea),
          LEAST(CASE WHEN g % 20 = 0 THEN now() - make_interval(secs => 60 + random() * 30 * ${DAY}) ELSE now() + interval '20 days' END, expires_at, revoked_at + interval '30 days')
        FROM seed;
      -- Two retired tokens of the previous scheme, draining: past their expiry for a tenth of the sessions.
      INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at)
        SELECT id, sha256((k || g)::bytea),
          LEAST(CASE WHEN g % 10 = 5 THEN now() - make_interval(secs => 60 + random() * 30 * ${DAY}) ELSE now() + interval '10 days' END, expires_at, revoked_at + interval '20 days'),
          COALESCE(revoked_at, now() - interval '20 days')
        FROM seed, (VALUES ('old'), ('older')) AS v(k);
      ANALYZE users, identities, sessions, refresh_tokens;`)
  } finally {
    await client.end()
  }
}

t.test('attack: every prune statement finds its rows through an index and reads about what it deletes', async (t) => {
  const testDb = await testDatabase(t)
  t.ok(!testDb.embedded, 'plans are checked on the real Postgres')
  await seed(testDb.url)
  const database = openDatabase({ url: testDb.url, poolSize: 4 })
  t.teardown(() => database.close())
  const pruner = new Pruner(database, { sessionRetentionSeconds: 0, auditRetentionSeconds: 180 * DAY })
  const explained: Explained[] = []
  const uninstall = explainEveryStatement(explained)
  t.teardown(uninstall)
  let deleted = 0
  for (const step of pruner.steps.filter((s) => s.name !== 'authEvents')) {
    await step.batch.count()
    for (let n; (n = await step.batch.delete()) > 0;) deleted += n
  }
  uninstall()
  t.ok(deleted >= SESSIONS / 10, `the pass deleted ${deleted} rows`)
  const seen = new Map<string, Explained[]>()
  for (const e of explained) seen.set(e.text, [...(seen.get(e.text) ?? []), e])
  t.ok(seen.size > 0, 'statements were seen')
  for (const [text, runs] of seen) {
    const scans = [...new Set(runs.flatMap((r) => r.scans))]
    const worst = runs.reduce((a, b) => (b.read / Math.max(b.out, 1) > a.read / Math.max(a.out, 1) ? b : a))
    t.notOk(scans.some((s) => /^Seq Scan on (sessions|refresh_tokens)/.test(s)), `no sequential scan: ${scans.join(', ')} -- ${text.slice(0, 160)}`)
    t.ok(worst.read <= FACTOR * Math.max(worst.out, 1), `reads ${worst.read} rows for ${worst.out} (of ${runs.length} runs, the worst) -- ${text.slice(0, 160)}`)
  }
  const [left] = await database.prisma.$queryRaw<{ due: number }[]>`
    SELECT (SELECT count(*)::int FROM refresh_tokens WHERE retired_at IS NOT NULL AND expires_at < now())
         + (SELECT count(*)::int FROM sessions WHERE refresh_expires_at < now()) AS due`
  t.equal(left!.due, 0, 'nothing due is left')
})
