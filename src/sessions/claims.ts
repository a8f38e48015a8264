/** What a signed access token says: its user, its session, its mini-program. */
export interface AccessClaims {
  sub: string
  sid: string
  appid: string
}
