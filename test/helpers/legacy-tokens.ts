import { randomBytes } from 'node:crypto'
import { hashRefreshToken, type RefreshSecret } from '../../src/sessions/refresh-token.js'

/** A refresh token as the scheme before 20261206200000_refresh_on_session issued it: `rt_` + 256 random bits, a refresh_tokens row each. */
export function newLegacyRefreshToken (): RefreshSecret {
  const token = `rt_${randomBytes(32).toString('base64url')}`
  return { token, hash: hashRefreshToken(token) }
}
