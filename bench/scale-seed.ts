import type pg from 'pg'

// The seeding of `npm run bench:scale`, kept apart so it can follow the schema
// as it changes: rows written in SQL (generate_series), shaped like a service
// that has run for a while. Per session: half a user (two sessions each), its
// identity, one retired and one live refresh token, three audit events.
// Rows are written in the order of their expiry, as time writes them (a
// token expires REFRESH_TOKEN_TTL after it was written), so the heap is laid
// out as a service's would be. A quarter of the sessions' rows are due for pruning:
// - the retired token of every 4th session is past its expiry;
// - 1 in 10 sessions is idle (its live token expired unused),
// - 1 in 10 is past SESSION_MAX_AGE, 1 in 20 revoked longer than REFRESH_TOKEN_TTL ago.
// Audit events are all inside AUDIT_RETENTION: expiring them is a partition
// drop (see partitionDropMs in bench/scale.ts), not part of the prune pass here.

export const SEED_DUE = { refreshTokens: 0.25, sessions: 0.25 }

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
    INSERT INTO wechat_identities (user_id, appid, openid, session_key_enc, created_at, updated_at)
    SELECT id, '${appid}', 'o' || substr(md5(id::text), 1, 27), 'v1:k1:' || encode(sha256(id::text::bytea), 'base64'), created_at, now()
    FROM users`)
  await step(`${sessions} sessions`, `
    CREATE TEMP TABLE seed_sessions AS
    SELECT g, gen_random_uuid() AS id, i.user_id, i.id AS identity_id,
      CASE WHEN g % 10 = 1 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
           ELSE now() + make_interval(secs => random() * 90 * 86400) END AS expires_at,
      CASE WHEN g % 20 = 2 THEN now() - interval '30 days' - make_interval(secs => 60 + random() * 30 * 86400)
           WHEN g % 20 = 3 THEN now() - make_interval(secs => random() * 29 * 86400) END AS revoked_at
    FROM generate_series(1, ${sessions}) g
    JOIN (SELECT id, user_id, row_number() OVER () AS n FROM wechat_identities) i ON i.n = 1 + g % ${users};
    INSERT INTO sessions (id, user_id, identity_id, appid, expires_at, revoked_at, revoked_reason, created_at, updated_at)
    SELECT id, user_id, identity_id, '${appid}', expires_at, revoked_at, CASE WHEN revoked_at IS NOT NULL THEN 'logout' END,
           LEAST(now(), expires_at) - interval '90 days', now()
    FROM seed_sessions ORDER BY expires_at`)
  await step(`${2 * sessions} refresh tokens`, `
    INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at, created_at, updated_at)
    SELECT * FROM (SELECT id, sha256(('live' || g)::bytea),
      LEAST(CASE WHEN g % 10 = 0 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
                 ELSE now() + make_interval(secs => random() * 30 * 86400) END, expires_at, revoked_at + interval '30 days'),
      revoked_at, now() - interval '1 day', now()
    FROM seed_sessions) t ORDER BY 3;
    INSERT INTO refresh_tokens (session_id, token_hash, expires_at, retired_at, successor_enc, created_at, updated_at)
    SELECT * FROM (SELECT id, sha256(('old' || g)::bytea),
      LEAST(CASE WHEN g % 4 = 0 THEN now() - make_interval(secs => 60 + random() * 30 * 86400)
                 ELSE now() + make_interval(secs => random() * 29 * 86400) END, expires_at, revoked_at + interval '29 days'),
      COALESCE(revoked_at, now() - interval '2 days'), encode(sha256(('s' || g)::bytea), 'base64'), now() - interval '31 days', now()
    FROM seed_sessions) t ORDER BY 3`)
  await step(`${3 * sessions} audit events`, `
    INSERT INTO auth_events (created_at, type, outcome, user_id, session_id, appid, ip, user_agent, request_id)
    SELECT now() - make_interval(secs => random() * 170 * 86400), (ARRAY['login', 'refresh', 'refresh'])[1 + k], 'ok', s.user_id, s.id, '${appid}',
           '10.' || (g % 256) || '.' || (g / 256 % 256) || '.7', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47', 'req-' || g || '-' || k
    FROM seed_sessions s, generate_series(0, 2) k ORDER BY 1`)
  await client.query('DROP TABLE seed_sessions')
  await step('vacuum analyze', 'VACUUM ANALYZE')
}
