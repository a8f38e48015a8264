import type pg from 'pg'

// The seeding of `npm run bench:scale`, kept apart so it can follow the schema
// as it changes: rows written in SQL (generate_series), shaped like a service
// that has run for a while. Per session: half a user (two sessions each), its
// identity, its refresh token on the row (generation > 0, current and previous
// hash, the previous one's retirement and sealed successor: the widest row the
// scheme writes); 1 in 50 sessions, all live ones (g % 10 = 7), also keeps a
// retired refresh_tokens row of the previous scheme (draining), so those rows
// go by their own expiry, not with a pruned session. Rows are written in the order of their
// refresh expiry, as time writes them (a rotation sets it REFRESH_TOKEN_TTL
// ahead), so the heap is laid out as a service's would be. A quarter of the
// sessions are due for pruning (refresh_expires_at past):
// - 1 in 10 is idle (its token expired unused),
// - 1 in 10 is past SESSION_MAX_AGE, 1 in 20 revoked and its token expired since;
// and a quarter of the legacy tokens are past their expiry.
// Audit events go into day partitions created first (a row without its day's
// partition would land in the default one): 3 per session over the last 170
// days, inside AUDIT_RETENTION, so the prune pass drops none; and one full day
// 175 days ago, one event per session (a day of N daily users), which
// bench/scale.ts drops as AUDIT_RETENTION would.

export const SEED_DUE = { refreshTokens: 0.25, sessions: 0.25 }
/** Sessions per legacy (previous scheme) refresh_tokens row. */
export const LEGACY_EVERY = 50
/** The day of the full partition, in days before today. */
export const FULL_DAY_AGO = 175

/** Seeds `sessions` sessions with their users, identities, tokens and audit events; returns once analysed. */
export async function seedScale (client: pg.Client, sessions: number, appid: string, log: (line: string) => void): Promise<void> {
  const users = Math.ceil(sessions / 2)
  const step = async (what: string, sql: string) => {
    const started = Date.now()
    await client.query(sql)
    log(`seed: ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
  await step(`${users} users`, `
    INSERT INTO users (id, nickname, avatar_url, gender, city, country, created_at, updated_at)
    SELECT gen_random_uuid(), 'user ' || g, 'https://thirdwx.qlogo.cn/mmopen/' || md5(g::text) || '/132', 1 + g % 2, 'Shenzhen', 'China',
           now() - make_interval(secs => random() * 90 * 86400), now()
    FROM generate_series(1, ${users}) g`)
  await step(`${users} identities`, `
    INSERT INTO identities (user_id, platform, appid, subject, subject_kind, session_key_enc, created_at, updated_at)
    SELECT id, 'wechat', '${appid}', 'o' || substr(md5(id::text), 1, 27), 'openid', 'v1:k1:' || encode(sha256(id::text::bytea), 'base64'), created_at, now()
    FROM users`)
  // A sealed successor: an rt2 token (98 chars) sealed is 126 bytes, 168 in base64url.
  const sealed = (seed: string, bytes: number) =>
    `rtrim(translate(encode(substr(sha256((${seed})::bytea) || sha256(('a' || ${seed})::bytea) || sha256(('b' || ${seed})::bytea) || sha256(('c' || ${seed})::bytea), 1, ${bytes}), 'base64'), E'+/\\n', '-_'), '=')`
  await step(`${sessions} sessions`, `
    CREATE TEMP TABLE seed_sessions AS
    SELECT g, id, user_id, identity_id, expires_at, refresh_expires_at,
      CASE WHEN g % 20 = 2 THEN refresh_expires_at - make_interval(secs => random() * 29 * 86400)
           WHEN g % 20 = 3 THEN now() - make_interval(secs => random() * 29 * 86400) END AS revoked_at
    FROM (SELECT *, LEAST(expires_at, CASE WHEN g % 10 = 0 OR g % 20 = 2 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
                                          ELSE now() + make_interval(secs => random() * 30 * 86400) END) AS refresh_expires_at
      FROM (SELECT g, gen_random_uuid() AS id, i.user_id, i.id AS identity_id,
              CASE WHEN g % 10 = 1 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
                   ELSE now() + make_interval(secs => random() * 90 * 86400) END AS expires_at
            FROM generate_series(1, ${sessions}) g
            JOIN (SELECT id, user_id, row_number() OVER () AS n FROM identities) i ON i.n = 1 + g % ${users}) s) s;
    INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, revoked_at, revoked_reason,
                          refresh_generation, refresh_hash, refresh_expires_at, previous_refresh_hash, refresh_retired_at, refresh_successor_enc, created_at, updated_at)
    SELECT id, user_id, identity_id, '${appid}', expires_at, revoked_at, CASE WHEN revoked_at IS NOT NULL THEN 'logout' END,
           1 + g % 60, sha256(('live' || g)::bytea), refresh_expires_at, sha256(('prev' || g)::bytea), refresh_expires_at - interval '30 days',
           ${sealed("'s' || g", 126)}, LEAST(now(), expires_at) - interval '90 days', LEAST(now(), refresh_expires_at - interval '30 days')
    FROM seed_sessions ORDER BY refresh_expires_at`)
  // A legacy successor: an rt_ token (46 chars) sealed is 74 bytes, 99 in base64url.
  await step(`${Math.ceil(sessions / LEGACY_EVERY)} legacy refresh tokens (retired)`, `
    INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at, successor_enc, created_at, updated_at)
    SELECT * FROM (SELECT id, sha256(('old' || g)::bytea),
      LEAST(CASE WHEN g % (4 * ${LEGACY_EVERY}) = 7 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
                 ELSE now() + make_interval(secs => random() * 29 * 86400) END, expires_at),
      now() - interval '2 days', ${sealed("'o' || g", 74)}, now() - interval '31 days', now()
    FROM seed_sessions WHERE g % ${LEGACY_EVERY} = 7) t ORDER BY 3`)
  await step(`day partitions, ${FULL_DAY_AGO} days ago to today`, `
    SELECT auth_events_create_partition(((now() AT TIME ZONE 'UTC')::date - ago)) FROM generate_series(0, ${FULL_DAY_AGO}) ago`)
  const event = (at: string, types: string) => `
    SELECT ${at}, ${types}, 'ok', s.user_id, s.id, '${appid}',
           '10.' || (g % 256) || '.' || (g / 256 % 256) || '.7', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47', 'req-' || g || '-' || k`
  await step(`${3 * sessions} audit events over 170 days`, `
    INSERT INTO auth_events (created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id)
    ${event('now() - make_interval(secs => random() * 170 * 86400)', "(ARRAY['login', 'refresh', 'refresh'])[1 + k]")}
    FROM seed_sessions s, generate_series(0, 2) k ORDER BY 1`)
  await step(`${sessions} audit events on one day, ${FULL_DAY_AGO} days ago`, `
    INSERT INTO auth_events (created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id)
    ${event(`date_trunc('day', now(), 'UTC') - interval '${FULL_DAY_AGO} days' + make_interval(secs => random() * 86399)`, "'refresh'")}
    FROM seed_sessions s, generate_series(3, 3) k ORDER BY 1`)
  const { rows: [stray] } = await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_partitions.auth_events_default')
  if (Number(stray!.n) !== 0) throw new Error(`seed: ${stray!.n} audit events in the default partition`)
  await client.query('DROP TABLE seed_sessions')
  await step('vacuum analyze', 'VACUUM ANALYZE')
}
