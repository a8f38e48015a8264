import { pino, type DestinationStream, type Logger } from 'pino'

// Requests are logged field by field (plugins/request-log.ts), never whole, so
// this list is the second line of defence: anything that could let a reader of
// the logs act as a user or as the app, should a future log call include it.
// Exact paths only: pino's wildcard redaction cost a third of the throughput
// of a Bearer-only route (docs/performance.md).
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'body', 'req.body', 'payload',
  'secret', 'js_code', 'session_key', 'sessionKey', 'accessToken', 'refreshToken', 'access_token',
  'encryptedData', 'iv', 'signature', 'rawData', 'err.headers', 'err.command'
]

/**
 * JSON lines to stdout (or `destination`). Writes are buffered and flushed
 * asynchronously, and flushed on exit; a hard crash of the process may lose
 * the last few kilobytes.
 */
export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'weapp-auth' }
  }, destination ?? pino.destination({ dest: 1, sync: false }))
}
