import { randomUUID } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AccessTokenExpired, AccessTokenInvalid, AuthTokenMissing } from '../errors.js'
import type { JwtKeys } from '../config/keys.js'
import type { AccessClaims, TokenLifetime } from '../sessions/claims.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims & { jti: string, iat: number, exp: number }
    user: AccessClaims & { jti: string, iat: number, exp: number }
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: trusts the Bearer token by its signature and claims alone, no database. */
    authenticate: (request: FastifyRequest) => Promise<void>
    /** Signs a token valid from `iat` to `exp` (seconds since the epoch); by default for ACCESS_TOKEN_TTL from now. */
    signAccessToken: (claims: AccessClaims, lifetime?: TokenLifetime) => string
  }
}

export interface AuthPluginOptions {
  keys: JwtKeys
  issuer: string
  audience: string
  accessTtlSeconds: number
}

const CLOCK_TOLERANCE_MS = 5_000

/** @fastify/jwt's codes (request path) and fast-jwt's (direct path) to our three 401s. */
function mapVerifyError (error: { code?: string }): Error {
  switch (error.code) {
    case 'FST_JWT_NO_AUTHORIZATION_IN_HEADER': return new AuthTokenMissing()
    case 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED': case 'FAST_JWT_EXPIRED': return new AccessTokenExpired()
    default: return new AccessTokenInvalid()
  }
}

// The scheme is case-insensitive (RFC 9110 11.1); read as @fastify/jwt reads it on the several-keys path,
// so both paths answer a header alike (a Bearer header with a bad separator is an invalid token, not a missing one).
const BEARER = /^Bearer ([A-Za-z0-9_.~+/=-]+)$/i
const BEARER_SCHEME = /^Bearer\s/i

function bearerToken (header: string | undefined): string {
  if (header === undefined || !BEARER_SCHEME.test(header)) throw new AuthTokenMissing()
  const match = BEARER.exec(header)
  if (match === null) throw new AccessTokenInvalid()
  return match[1]!
}

export default fp(async function auth (app: FastifyInstance, opts: AuthPluginOptions) {
  const { keys } = opts
  const single = keys.verifyKeys.size === 1 ? [...keys.verifyKeys.values()][0]! : undefined
  // Several public keys (a rotation): pick by the token's kid; the verifier per key is cached by @fastify/jwt.
  // @fastify/jwt awaits a returned promise (a plain return value would never complete).
  const publicKey = single ?? (async (_request: FastifyRequest, token: { header: { kid?: string } }) => {
    const key = token.header.kid === undefined ? undefined : keys.verifyKeys.get(token.header.kid)
    if (key === undefined) throw new AccessTokenInvalid()
    return key
  })
  await app.register(fastifyJwt, {
    secret: keys.algorithm === 'HS256' ? keys.signingKey : { private: keys.signingKey, public: publicKey as string },
    decode: { complete: single === undefined },
    sign: {
      algorithm: keys.algorithm,
      ...(keys.kid !== undefined ? { kid: keys.kid } : {}),
      iss: opts.issuer,
      aud: opts.audience
      // No expiresIn: it would override the exp signAccessToken sets (capped at the session's end).
    },
    verify: {
      algorithms: [keys.algorithm],
      allowedIss: opts.issuer,
      allowedAud: opts.audience,
      clockTolerance: CLOCK_TOLERANCE_MS,
      requiredClaims: ['sub', 'sid', 'appid', 'jti', 'iat', 'exp', 'iss', 'aud'],
      cache: true
    }
  })

  app.decorate('signAccessToken', (claims: AccessClaims, lifetime?: TokenLifetime) => {
    const iat = lifetime?.iat ?? Math.floor(Date.now() / 1000)
    return app.jwt.sign({ ...claims, jti: randomUUID(), iat, exp: lifetime?.exp ?? iat + opts.accessTtlSeconds })
  })
  // One key: the plugin's prebuilt verifier, called directly (request.jwtVerify
  // would decode every token a second time to look up a key it already has).
  // Several keys: the request path, which picks the key by kid.
  app.decorate('authenticate', single === undefined
    ? async (request: FastifyRequest) => {
      try {
        await request.jwtVerify()
      } catch (error) {
        throw mapVerifyError(error as { code?: string })
      }
    }
    : async (request: FastifyRequest) => {
      const token = bearerToken(request.headers.authorization)
      try {
        request.user = app.jwt.verify(token)
      } catch (error) {
        throw mapVerifyError(error as { code?: string })
      }
    })
}, { name: 'auth' })
