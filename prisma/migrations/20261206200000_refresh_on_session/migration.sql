-- O(1) rows per session: the refresh-token chain lives on its session row
-- (scheme: src/sessions/refresh-token.ts). A rotation updates this row and
-- inserts nothing; refresh_tokens keeps only the tokens issued before this
-- migration, until they expire (it then drains).
ALTER TABLE "sessions" ADD COLUMN "refresh_generation" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN "refresh_hash" BYTEA,
ADD COLUMN "refresh_expires_at" TIMESTAMPTZ(3),
ADD COLUMN "previous_refresh_hash" BYTEA,
ADD COLUMN "refresh_retired_at" TIMESTAMPTZ(3),
ADD COLUMN "refresh_successor_enc" VARCHAR(256);

-- A session of the previous scheme: its refresh_hash stays NULL (its live token
-- is a refresh_tokens row, rotated once more by the legacy path), and it can be
-- presented until the last of its tokens expires.
UPDATE "sessions" s SET "refresh_expires_at" = COALESCE(
  (SELECT max(rt."expires_at") FROM "refresh_tokens" rt WHERE rt."session_id" = s."id"), s."expires_at");

ALTER TABLE "sessions" ALTER COLUMN "refresh_expires_at" SET NOT NULL;

-- Pruning: a session goes once nothing can be presented for it any more.
CREATE INDEX "sessions_refresh_expires_at_idx" ON "sessions"("refresh_expires_at");
