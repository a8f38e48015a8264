-- A ban ends every session of the user at once, however it is set (Studio, SQL):
-- lifting it later must not revive the sessions that stayed quiet during it
-- (a hijacker's among them). Not in schema.prisma: Prisma does not model triggers.
CREATE FUNCTION "end_sessions_of_banned_user"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH ended AS (
    UPDATE "sessions" SET "revoked_at" = clock_timestamp(), "revoked_reason" = 'user_disabled', "updated_at" = now()
    WHERE "user_id" = NEW."id" AND "revoked_at" IS NULL
    RETURNING "id"
  )
  UPDATE "refresh_tokens" SET "retired_at" = now(), "updated_at" = now()
  WHERE "session_id" IN (SELECT "id" FROM ended) AND "retired_at" IS NULL;
  RETURN NULL;
END
$$;

CREATE TRIGGER "users_ban_ends_sessions" AFTER UPDATE OF "disabled_at" ON "users"
FOR EACH ROW WHEN (OLD."disabled_at" IS NULL AND NEW."disabled_at" IS NOT NULL)
EXECUTE FUNCTION "end_sessions_of_banned_user"();
