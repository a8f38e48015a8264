-- The pruner finds each batch through an index in the order of its predicate
-- (src/sessions/prune.ts). One index on expires_at over all tokens made each
-- batch of retired tokens walk past the expired live tokens of idle sessions
-- (and the reverse); split by retired_at, each holds only the rows its step
-- deletes, for the bytes of the one it replaces.
-- Not in schema.prisma: Prisma does not declare partial indexes (see test/db/schema-drift.test.ts).
DROP INDEX "refresh_tokens_expires_at_idx";
CREATE INDEX "refresh_tokens_retired_expires_at_idx" ON "refresh_tokens"("expires_at") WHERE "retired_at" IS NOT NULL;
CREATE INDEX "refresh_tokens_live_expires_at_idx" ON "refresh_tokens"("expires_at") WHERE "retired_at" IS NULL;
