import { ConfigError, loadConfig } from '../config.js'
import { createLogger } from '../logger.js'
import { migrate } from './migrate.js'

// `npm run db:migrate`: the offline equivalent of `prisma migrate deploy`.
try {
  const config = loadConfig()
  if (config.databaseUrl === undefined) {
    process.stderr.write('weapp-auth: DATABASE_URL is not set; the embedded database is migrated by `npm start` itself\n')
    process.exit(1)
  }
  const { applied, alreadyApplied } = await migrate(config.databaseUrl)
  createLogger('info').info({ applied, alreadyApplied: alreadyApplied.length }, applied.length > 0 ? `applied ${applied.length} migration(s)` : 'database schema is up to date')
} catch (error) {
  const message = error instanceof ConfigError ? error.message : (error as Error).message
  process.stderr.write(`weapp-auth: ${message}\n`)
  process.exit(1)
}
