import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { privateDataDir } from '../data-dir.js'
import { startPasswordGate } from './password-gate.js'
import { pinExtendedQueries } from './pglite-session.js'

export interface EmbeddedDatabase {
  url: string
  /** Idempotent. */
  stop: () => Promise<void>
}

/** Where a running embedded database advertises its URL, so `npm run studio` can reach it. */
export const embeddedInfoFile = (dataDir: string): string => join(dataDir, 'embedded-db.json')

/** The embedded socket's password, created on the first start, readable by its owner only. */
export const embeddedPasswordFile = (dataDir: string): string => join(dataDir, 'embedded-db.password')

/** The socket's password: 256 random bits made on the first start, then read from DATA_DIR. */
export async function embeddedPassword (dataDir: string): Promise<string> {
  const file = embeddedPasswordFile(dataDir)
  await privateDataDir(dataDir)
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error
    await chmod(file, 0o600)
  }
  const password = (await readFile(file, 'utf8')).trim()
  if (!/^[0-9a-f]{64}$/.test(password)) throw new Error(`${file} is not a password this service made: delete it, and it is made again on the next start`)
  return password
}

const withPassword = (url: string, password: string): string => url.replace('postgresql://postgres@', `postgresql://postgres:${password}@`)

/** The URL (with the password) of a live process that has this data open, if any. */
export async function runningEmbeddedUrl (dataDir: string): Promise<{ url: string, pid: number } | undefined> {
  try {
    const { url, pid } = JSON.parse(await readFile(embeddedInfoFile(dataDir), 'utf8')) as { url: string, pid: number }
    process.kill(pid, 0)
    return { url: withPassword(url, await embeddedPassword(dataDir)), pid }
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
 * one directory would each cache and write its pages. The loopback port asks
 * for the password in DATA_DIR (password-gate.ts); pglite-socket itself
 * listens on a socket path in a directory only this user can open.
 */
export async function startEmbeddedDatabase (dataDir: string, port = 0): Promise<EmbeddedDatabase> {
  const dataPath = join(dataDir, 'pglite')
  await privateDataDir(dataDir)
  const holder = await runningEmbeddedUrl(dataDir)
  if (holder !== undefined && holder.pid !== process.pid) {
    throw new Error(`the embedded database in ${dataPath} is open in process ${holder.pid} (see ${embeddedInfoFile(dataDir)}): stop that npm start or npm run studio first, or set DATABASE_URL`)
  }
  // PGlite writes its files 0666: the directory keeps other users from them (and from going around the password).
  await mkdir(dataPath, { recursive: true, mode: 0o700 })
  await chmod(dataPath, 0o700)
  const password = await embeddedPassword(dataDir)
  const db = await PGlite.create(dataPath)
  const socketDir = await mkdtemp(join(tmpdir(), 'weapp-pglite-'))
  const backendPath = join(socketDir, '.s.PGSQL.5432')
  const server = new PGLiteSocketServer({ db: pinExtendedQueries(db), path: backendPath, maxConnections: 16 })
  await server.start()
  const gate = await startPasswordGate({ password, backendPath, host: '127.0.0.1', port, maxConnections: 32 })
  const url = `postgresql://postgres@127.0.0.1:${gate.port}/postgres?sslmode=disable`
  const infoFile = embeddedInfoFile(dataDir)
  await writeFile(infoFile, JSON.stringify({ url, pid: process.pid }))
  let stopped: Promise<void> | undefined
  return {
    url: withPassword(url, password),
    stop: () => (stopped ??= (async () => {
      await rm(infoFile, { force: true })
      await gate.close()
      await server.stop()
      await db.close()
      await rm(socketDir, { recursive: true, force: true })
    })())
  }
}
