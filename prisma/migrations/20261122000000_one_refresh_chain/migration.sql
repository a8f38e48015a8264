-- A session is one chain of refresh tokens and cannot fork.

-- The successor a retired token was rotated into, encrypted under a key derived
-- from the retired token itself: a client retrying within the grace window gets
-- the same successor back, and the database alone never holds a usable token.
ALTER TABLE "refresh_tokens" ADD COLUMN "successor_enc" VARCHAR(128);

-- Sessions forked before this migration (a reuse within the grace window used
-- to mint a second live token) keep their newest live token only. The others
-- are deleted, not retired: a client still holding one gets
-- REFRESH_TOKEN_INVALID and logs in again, instead of being taken for a thief
-- (REFRESH_TOKEN_REUSED) and having the whole session revoked.
DELETE FROM "refresh_tokens" rt
WHERE rt."retired_at" IS NULL AND EXISTS (
  SELECT 1 FROM "refresh_tokens" newer
  WHERE newer."session_id" = rt."session_id" AND newer."retired_at" IS NULL
    AND (newer."created_at", newer."id") > (rt."created_at", rt."id"));

-- At most one live refresh token per session, enforced by the database.
-- Not in schema.prisma: Prisma's partialIndexes preview would make session_id a
-- unique lookup key in the generated client, which it is not.
CREATE UNIQUE INDEX "refresh_tokens_one_live_per_session" ON "refresh_tokens"("session_id") WHERE "retired_at" IS NULL;
