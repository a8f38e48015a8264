-- The pruner finds each batch through an index in the order of its predicate
-- (src/sessions/prune.ts). Of refresh_tokens (the previous scheme's, draining)
-- only retired tokens are pruned by their expiry; an expired live one goes with
-- its session (by sessions.refresh_expires_at). A partial index holds just the
-- rows that step deletes, instead of every token.
-- Not in schema.prisma: Prisma does not declare partial indexes (see test/db/schema-drift.test.ts).
DROP INDEX "refresh_tokens_expires_at_idx";
CREATE INDEX "refresh_tokens_retired_expires_at_idx" ON "refresh_tokens"("expires_at") WHERE "retired_at" IS NOT NULL;

-- Sessions are pruned by refresh_expires_at alone (20261206200000_refresh_on_session);
-- these two served nothing else (every other read is by id or user_id), and each
-- costs bytes and a write on every rotation of a session.
DROP INDEX "sessions_expires_at_idx";
DROP INDEX "sessions_revoked_at_idx";
