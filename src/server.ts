import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, runtimeConfig, type Config, type RuntimeConfig } from './config/index.js'
import { openDatabase } from './db/database.js'
import { provisionDatabase } from './db/open.js'
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
  // Production is validated complete and never loads the development defaults (nor the fake WeChat).
  let config: RuntimeConfig
  let closeDevelopment = async (): Promise<void> => {}
  if (base.env === 'production') {
    config = runtimeConfig(base)
  } else {
    const { applyDevelopmentDefaults } = await import('./dev/zero-config.js')
    const development = await applyDevelopmentDefaults(base, logger)
    config = development.config
    closeDevelopment = development.close
  }
  const provisioned = await provisionDatabase(config, logger)
  const db = openDatabase(provisioned)
  const app = await buildApp(config, { db, logger })

  closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'shutting down after an error')
    else logger.info(`${signal ?? 'close'} received: draining in-flight requests`)
    await app.close()
    await provisioned.close()
    await closeDevelopment()
  })

  await app.listen({ host: config.host, port: config.port })
}

main().catch((error: Error) => {
  process.stderr.write(`weapp-auth: failed to start: ${error.message}\n`)
  process.exit(1)
})
