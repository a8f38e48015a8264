import { pino, type DestinationStream, type Logger } from 'pino'

// Requests are logged field by field (plugins/request-log.ts), never whole, so
// this list is the second line of defence: anything that could let a reader of
// the logs act as a user or as the app, should a future log call include it.
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization',
  'body', 'req.body', 'payload',
  '*.js_code', '*.secret', '*.session_key', '*.sessionKey',
  '*.accessToken', '*.refreshToken', '*.access_token', '*.encryptedData', '*.iv', '*.signature'
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'weapp-auth' }
  }, destination)
}
