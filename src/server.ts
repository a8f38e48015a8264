import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createPrisma } from './db/prisma.js'
import { openDatabase } from './db/open.js'
import { applyDevelopmentDefaults } from './dev/zero-config.js'
import { createLogger } from './logger.js'

function configOrExit (): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`weapp-auth: ${error.message}\nSee .env.example for every setting.\n`)
    process.exit(1)
  }
}

async function main (): Promise<void> {
  const base = configOrExit()
  const logger = createLogger(base.logLevel)
  const development = await applyDevelopmentDefaults(base, logger)
  const config = development.config
  const database = await openDatabase(config, logger)
  const prisma = createPrisma({ url: database.url, poolSize: database.poolSize })
  const app = await buildApp(config, { prisma, logger })

  closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'shutting down after an error')
    else logger.info(`${signal ?? 'close'} received: draining in-flight requests`)
    await app.close()
    await database.close()
    await development.close()
  })

  await app.listen({ host: config.host, port: config.port })
}

main().catch((error: Error) => {
  process.stderr.write(`weapp-auth: failed to start: ${error.message}\n`)
  process.exit(1)
})
