import { mkdir, stat } from 'node:fs/promises'

/**
 * Creates DATA_DIR (this user's only) when missing, and refuses one another user
 * owns or every user may write: its files (development keys, the embedded
 * database's password and data) would be theirs to plant, and its names theirs
 * to point, by symlink, at files this user owns, which a start then overwrites.
 */
export async function privateDataDir (dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const uid = process.getuid?.()
  if (uid === undefined) return
  const { uid: owner, mode } = await stat(dataDir)
  if (owner !== uid) throw new Error(`DATA_DIR ${dataDir} belongs to another user (uid ${owner}): choose a directory of your own`)
  if ((mode & 0o002) !== 0) throw new Error(`DATA_DIR ${dataDir} is writable by every user: chmod o-w it, or choose another directory`)
}
