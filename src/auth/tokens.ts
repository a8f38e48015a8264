/** What a refresh answers (and a login, with its user): schemas/auth.ts checks its schema against these. */
export interface TokenPair {
  accessToken: string
  tokenType: 'Bearer'
  /** Seconds until the access token expires. */
  expiresIn: number
  refreshToken: string
  /** Seconds until the refresh token expires. */
  refreshExpiresIn: number
}

export interface LoginResult extends TokenPair {
  user: { id: string, isNew: boolean }
}
