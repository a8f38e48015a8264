import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { ConfigError, loadConfig } from '../config/index.js'
import { runningEmbeddedUrl, startEmbeddedDatabase, type EmbeddedDatabase } from '../db/embedded.js'

// `npm run studio`: Prisma Studio on the configured database. Without
// DATABASE_URL it joins the embedded database of a running `npm start`, or
// opens the embedded data itself when the service is not running.

try {
  const config = loadConfig()
  let embedded: EmbeddedDatabase | undefined
  let url = config.databaseUrl ?? (await runningEmbeddedUrl(config.dataDir))?.url
  if (url === undefined) {
    embedded = await startEmbeddedDatabase(config.dataDir)
    url = embedded.url
  }
  const port = process.env.STUDIO_PORT ?? '5555'
  process.stdout.write(`weapp-auth: opening Prisma Studio on http://localhost:${port} for ${new URL(url).host}${new URL(url).pathname}\n`)
  const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js')
  const studio = spawn(process.execPath, [prismaCli, 'studio', '--port', port, '--browser', 'none'], {
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: url }
  })
  const stop = (): void => { studio.kill('SIGTERM') }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  studio.on('exit', (code) => {
    (embedded?.stop() ?? Promise.resolve()).finally(() => process.exit(code ?? 0)).catch(() => {})
  })
} catch (error) {
  process.stderr.write(`weapp-auth: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`)
  process.exit(1)
}
