import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { pinExtendedQueries } from './pglite-session.js'

export interface EmbeddedDatabase {
  url: string
  /** Idempotent. */
  stop: () => Promise<void>
}

/** Where a running embedded database advertises its URL, so `npm run studio` can reach it. */
export const embeddedInfoFile = (dataDir: string): string => join(dataDir, 'embedded-db.json')

/** The URL advertised by a live process that has this data open, if any. */
export async function runningEmbeddedUrl (dataDir: string): Promise<{ url: string, pid: number } | undefined> {
  try {
    const { url, pid } = JSON.parse(await readFile(embeddedInfoFile(dataDir), 'utf8')) as { url: string, pid: number }
    process.kill(pid, 0)
    return { url, pid }
  } catch {
    return undefined
  }
}

/**
 * Postgres 17 compiled to WASM (PGlite), served on loopback over the wire
 * protocol so Prisma's pg adapter and the migrator talk to it like any server.
 * PGlite is one session running one query at a time: the service keeps its
 * pool at one connection, and other clients (Studio's pool of up to 10, the
 * migrator) take turns, each extended-query exchange kept whole.
 * Refuses data that another live process has open: two PGlite instances on
 * one directory would each cache and write its pages.
 */
export async function startEmbeddedDatabase (dataDir: string, port = 0): Promise<EmbeddedDatabase> {
  const dataPath = join(dataDir, 'pglite')
  const holder = await runningEmbeddedUrl(dataDir)
  if (holder !== undefined && holder.pid !== process.pid) {
    throw new Error(`the embedded database in ${dataPath} is open in process ${holder.pid} (see ${embeddedInfoFile(dataDir)}): stop that npm start or npm run studio first, or set DATABASE_URL`)
  }
  await mkdir(dataPath, { recursive: true })
  const db = await PGlite.create(dataPath)
  const server = new PGLiteSocketServer({ db: pinExtendedQueries(db), host: '127.0.0.1', port, maxConnections: 16 })
  await server.start()
  const url = `postgresql://postgres@${server.getServerConn()}/postgres?sslmode=disable`
  const infoFile = embeddedInfoFile(dataDir)
  await writeFile(infoFile, JSON.stringify({ url, pid: process.pid }))
  let stopped: Promise<void> | undefined
  return {
    url,
    stop: () => (stopped ??= (async () => {
      await rm(infoFile, { force: true })
      await server.stop()
      await db.close()
    })())
  }
}
