-- The audit trail becomes partitioned by day (created_at, UTC days), so
-- retention drops a whole day in one statement instead of deleting its rows.
-- auth_events_log is the partitioned table; auth_events stays the name every
-- reader and the writer use, as a view of it: Prisma Studio lists tables and
-- views but not partitioned tables. The day partitions live in their own
-- schema, audit_partitions, out of public's listing. Existing rows are copied
-- (fine at the sizes this runs at; README "Audit trail" says how a large
-- install attaches its old table instead).
ALTER TABLE "auth_events" RENAME TO "auth_events_unpartitioned";
ALTER TABLE "auth_events_unpartitioned" RENAME CONSTRAINT "auth_events_pkey" TO "auth_events_unpartitioned_pkey";
DROP INDEX "auth_events_user_id_created_at_idx", "auth_events_type_created_at_idx", "auth_events_created_at_idx";

-- The key must hold the partition key. created_at first: it also serves "the
-- events between two times" inside a day, so no index on created_at alone.
CREATE TABLE "auth_events_log" (
    "id" BIGINT NOT NULL DEFAULT nextval('auth_events_id_seq'),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "type" VARCHAR(32) NOT NULL,
    "outcome" VARCHAR(64) NOT NULL,
    "user_id" UUID,
    "session_id" UUID,
    "appid" VARCHAR(64),
    "ip" VARCHAR(64),
    "user_agent" VARCHAR(256),
    "request_id" VARCHAR(64),

    CONSTRAINT "auth_events_log_pkey" PRIMARY KEY ("created_at", "id")
) PARTITION BY RANGE ("created_at");
ALTER SEQUENCE "auth_events_id_seq" OWNED BY "auth_events_log"."id";

-- "This user's events, newest first".
CREATE INDEX "auth_events_log_user_id_created_at_idx" ON "auth_events_log"("user_id", "created_at" DESC);
-- "Failures of a kind (REFRESH_TOKEN_REUSED...) in a time range": only the
-- failures, a small share of the rows. Not in schema.prisma (a partial index).
CREATE INDEX "auth_events_log_failures_idx" ON "auth_events_log"("outcome", "created_at") WHERE "outcome" <> 'ok';

-- Inserts, updates and deletes through it reach auth_events_log (a simple view is updatable).
CREATE VIEW "auth_events" AS SELECT "id", "created_at", "type", "outcome", "user_id", "session_id", "appid", "ip", "user_agent", "request_id" FROM "auth_events_log";

CREATE SCHEMA "audit_partitions";
-- Catches a row no day partition takes (a clock past the partitions made
-- ahead, a back-dated insert by hand): an insert never fails for want of a
-- partition. Kept empty: the next partition pass moves its rows into their
-- day's partition (and deletes the expired ones).
CREATE TABLE "audit_partitions"."auth_events_default" PARTITION OF "auth_events_log" DEFAULT;

-- Creates the partition of one UTC day, audit_partitions.auth_events_pYYYYMMDD,
-- moving in the day's rows the default partition caught; false when it
-- exists. Built apart and then attached: ATTACH locks auth_events_log less
-- than CREATE ... PARTITION OF would (inserts go on), and the lock on the
-- default partition holds back only the inserts routed there, until the commit.
CREATE FUNCTION "auth_events_create_partition"("day" date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  part text := 'auth_events_p' || to_char("day", 'YYYYMMDD');
  lower timestamptz := "day"::timestamp AT TIME ZONE 'UTC';
  upper timestamptz := ("day" + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
  PERFORM pg_advisory_xact_lock(72707371);
  IF to_regclass(format('"audit_partitions".%I', part)) IS NOT NULL THEN RETURN false; END IF;
  -- Wait for a lock no longer than this (a long reader of the default partition): the next pass retries.
  PERFORM set_config('lock_timeout', '5s', true);
  LOCK TABLE "audit_partitions"."auth_events_default" IN EXCLUSIVE MODE;
  EXECUTE format('CREATE TABLE "audit_partitions".%I (LIKE "auth_events_log")', part);
  EXECUTE format('WITH moved AS (DELETE FROM "audit_partitions"."auth_events_default" WHERE "created_at" >= $1 AND "created_at" < $2 RETURNING *) INSERT INTO "audit_partitions".%I SELECT * FROM moved', part)
    USING lower, upper;
  EXECUTE format('ALTER TABLE "auth_events_log" ATTACH PARTITION "audit_partitions".%I FOR VALUES FROM (%L) TO (%L)', part, lower, upper);
  RETURN true;
END
$$;

-- A partition for each day that has rows, and for today and 7 days ahead.
SELECT "auth_events_create_partition"("day") FROM (
  SELECT DISTINCT ("created_at" AT TIME ZONE 'UTC')::date AS "day" FROM "auth_events_unpartitioned"
  UNION SELECT (now() AT TIME ZONE 'UTC')::date + ahead FROM generate_series(0, 7) AS ahead
) AS days ORDER BY "day";

INSERT INTO "auth_events_log" ("id", "created_at", "type", "outcome", "user_id", "session_id", "appid", "ip", "user_agent", "request_id")
SELECT "id", "created_at", "type", "outcome", "user_id", "session_id", "appid", "ip", "user_agent", "request_id" FROM "auth_events_unpartitioned";
DROP TABLE "auth_events_unpartitioned";
