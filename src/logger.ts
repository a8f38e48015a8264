import { pino, type DestinationStream, type Logger } from 'pino'

// Everything that could let a reader of the logs act as a user or as the app.
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.code', '*.js_code', '*.secret', '*.session_key', '*.sessionKey',
  '*.accessToken', '*.refreshToken', '*.access_token', '*.encryptedData', '*.iv', '*.signature'
]

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return pino({
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'weapp-auth' }
  }, destination)
}
