/** What a signed access token says: its user, its session, its mini-program. */
export interface AccessClaims {
  sub: string
  sid: string
  appid: string
}

/** When a signed access token starts and stops being valid, in seconds since the epoch. */
export interface TokenLifetime { iat: number, exp: number }
