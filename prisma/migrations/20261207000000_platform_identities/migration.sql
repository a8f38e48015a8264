-- Identities become platform-neutral (issue 21; PLATFORMS.md D1, D2, D4): an
-- identity is (platform, appid, subject), where subject is what the platform
-- names the user by (subject_kind: an openid per app, Kuaishou's open_id per
-- developer, Alipay's user_id). Every WeChat row keeps its id, so sessions
-- (sessions.identity_id), their tokens and the session_keys sealed with the
-- row id as associated data keep working. No column keeps a default: every
-- insert names its platform. Nothing here rewrites the identities table (the
-- added columns take their value from the catalog); only users with a unionid
-- are updated. Old instances cannot serve beside this schema: stop them first.
ALTER TABLE "wechat_identities" RENAME TO "identities";
ALTER TABLE "identities" RENAME CONSTRAINT "wechat_identities_pkey" TO "identities_pkey";
ALTER TABLE "identities" RENAME CONSTRAINT "wechat_identities_user_id_fkey" TO "identities_user_id_fkey";
ALTER INDEX "wechat_identities_user_id_idx" RENAME TO "identities_user_id_idx";
ALTER TABLE "identities" RENAME COLUMN "openid" TO "subject";

ALTER TABLE "identities" ADD COLUMN "platform" TEXT NOT NULL DEFAULT 'wechat',
ADD COLUMN "subject_kind" TEXT NOT NULL DEFAULT 'openid';
ALTER TABLE "identities" ALTER COLUMN "platform" DROP DEFAULT, ALTER COLUMN "subject_kind" DROP DEFAULT;
-- The names of src/platforms/adapter.ts (Platform, SubjectKind). Not in schema.prisma: Prisma does not model CHECKs.
ALTER TABLE "identities" ADD CONSTRAINT "identities_platform_check"
  CHECK ("platform" IN ('wechat', 'qq', 'douyin', 'baidu', 'alipay', 'kuaishou')),
ADD CONSTRAINT "identities_subject_kind_check" CHECK ("subject_kind" IN ('openid', 'open_id', 'user_id'));

-- The same subject string under the same appid on two platforms is two people.
CREATE UNIQUE INDEX "identities_platform_appid_subject_key" ON "identities"("platform", "appid", "subject");
DROP INDEX "wechat_identities_appid_openid_key";

-- Alipay has no session_key: NULL for its identities, and for them only.
ALTER TABLE "identities" ALTER COLUMN "session_key_enc" DROP NOT NULL;

-- A unionid is scoped by its platform: a Douyin unionid never joins a WeChat
-- user, however equal the strings. union_platform is set exactly when unionid is.
ALTER TABLE "users" ADD COLUMN "union_platform" TEXT;
UPDATE "users" SET "union_platform" = 'wechat' WHERE "unionid" IS NOT NULL;
ALTER TABLE "users" ADD CONSTRAINT "users_union_platform_check"
  CHECK ("union_platform" IN ('wechat', 'qq', 'douyin', 'baidu', 'alipay', 'kuaishou')),
ADD CONSTRAINT "users_unionid_scoped_check" CHECK (("unionid" IS NULL) = ("union_platform" IS NULL));
CREATE UNIQUE INDEX "users_union_platform_unionid_key" ON "users"("union_platform", "unionid");
DROP INDEX "users_unionid_key";
