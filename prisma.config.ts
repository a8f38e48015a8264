import { defineConfig } from 'prisma/config'

// Prisma CLI settings (generate, studio). The URL is read when a command needs it,
// so `prisma generate` works with no database configured.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/weapp_auth' }
})
