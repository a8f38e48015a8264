import { Writable } from 'node:stream'
import { createLogger } from '../../src/logger.js'

/** A logger whose JSON lines are kept in `lines`, for tests that search the log. */
export function capture (level = 'info') {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done() } })
  return { lines, logger: createLogger(level, stream) }
}
