import { loadConfig } from '../config/index.js'
import { migrate } from '../db/migrate.js'
import { createLogger } from '../logger.js'
import { runCli } from './run.js'

// `npm run db:migrate`: the offline equivalent of `prisma migrate deploy`.
runCli('', async () => {
  const config = loadConfig()
  if (config.databaseUrl === undefined) throw new Error('DATABASE_URL is not set; the embedded database is migrated by `npm start` itself')
  const { applied, alreadyApplied } = await migrate(config.databaseUrl)
  createLogger('info').info({ applied, alreadyApplied: alreadyApplied.length }, applied.length > 0 ? `applied ${applied.length} migration(s)` : 'database schema is up to date')
  return 0
})
