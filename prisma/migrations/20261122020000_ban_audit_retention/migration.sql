-- Ban a user: disabled_at set (in Studio or SQL) refuses the user on every route that reads the database.
ALTER TABLE "users" ADD COLUMN "disabled_at" TIMESTAMPTZ(3),
ADD COLUMN "disabled_reason" VARCHAR(256);

-- The audit trail: every auth outcome, failures included, never a secret.
-- id is a sequence: the order events were written in, and a small primary key.
CREATE TABLE "auth_events" (
    "id" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" VARCHAR(32) NOT NULL,
    "outcome" VARCHAR(64) NOT NULL,
    "user_id" UUID,
    "session_id" UUID,
    "appid" VARCHAR(64),
    "ip" VARCHAR(64),
    "user_agent" VARCHAR(256),
    "request_id" VARCHAR(64),

    CONSTRAINT "auth_events_pkey" PRIMARY KEY ("id")
);

-- "This user's events, newest first"; "events of this type in a time range"; and pruning by age.
CREATE INDEX "auth_events_user_id_created_at_idx" ON "auth_events"("user_id", "created_at" DESC);
CREATE INDEX "auth_events_type_created_at_idx" ON "auth_events"("type", "created_at");
CREATE INDEX "auth_events_created_at_idx" ON "auth_events"("created_at");

-- Pruning finds expired tokens and ended sessions by index, in small batches.
CREATE INDEX "refresh_tokens_expires_at_idx" ON "refresh_tokens"("expires_at");
CREATE INDEX "sessions_expires_at_idx" ON "sessions"("expires_at");
CREATE INDEX "sessions_revoked_at_idx" ON "sessions"("revoked_at");
