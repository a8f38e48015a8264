import { createPublicKey, randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import Fastify from 'fastify'
import pg from 'pg'
import { STATEMENTS } from '../dist/db/statements.js'
import { RefreshTokens, sealSuccessor } from '../dist/sessions/refresh-token.js'
import { parseVaultKeys } from '../dist/config/keys.js'
import '../dist/sessions/repository.js'
import '../dist/users/repository.js'

// The floors of `npm run bench`: the same work as the service's routes, done
// with nothing around it. Fastify with no plugins, fast-jwt with the service's
// key, issuer and audience, and the service's own SQL (imported from its build)
// as named prepared statements on a bare pg pool. No rate limit, no log line,
// no security headers, no Prisma: what the service costs above this is its own.

const statement = (name) => STATEMENTS.find((s) => s.name === name)
const profile = statement('users_profile')
const rotate = statement('sessions_rotate')
const { JWT_PRIVATE_KEY: pem, DATABASE_URL: url, SESSION_KEY_ENCRYPTION_KEYS: vaultKeys } = process.env
const tokens = new RefreshTokens(parseVaultKeys(vaultKeys))
const claims = { allowedIss: 'weapp-auth', allowedAud: 'weapp', requiredClaims: ['sub', 'sid', 'appid', 'jti', 'iat', 'exp', 'iss', 'aud'] }
const verify = createVerifier({ key: createPublicKey(pem).export({ type: 'spki', format: 'pem' }), algorithms: ['EdDSA'], cache: true, clockTolerance: 5000, ...claims })
const sign = createSigner({ key: pem, algorithm: 'EdDSA', iss: 'weapp-auth', aud: 'weapp', expiresIn: 900_000 })
const pool = new pg.Pool({ connectionString: url, max: 10 })

const bearer = (request) => verify(request.headers.authorization.slice(7))

const app = Fastify()
app.get('/v1/auth/session', async (request) => {
  const { sub, sid, appid, exp } = bearer(request)
  return { userId: sub, sessionId: sid, appid, expiresAt: new Date(exp * 1000).toISOString() }
})
app.get('/v1/me', async (request, reply) => {
  const { sid } = bearer(request)
  const { rows: [row] } = await pool.query({ name: profile.name, text: profile.text, values: [sid] })
  if (row === undefined || row.session_revoked || row.session_expired) return reply.code(401).send({ code: 'SESSION_REVOKED' })
  const { session_revoked: _r, session_expired: _e, createdAt, ...view } = row
  return { ...view, createdAt: createdAt.toISOString() }
})
app.post('/v1/auth/refresh', async (request, reply) => {
  const token = request.body.refreshToken
  const presented = tokens.verify(token)
  if (presented === undefined) return reply.code(401).send({ code: 'REFRESH_TOKEN_INVALID' })
  const next = tokens.issue(presented.sessionId, presented.generation + 1)
  const { rows: [row] } = await pool.query({
    name: rotate.name,
    text: rotate.text,
    values: [presented.sessionId, presented.hash, sealSuccessor(presented, next.token), next.hash, 2_592_000]
  })
  if (row === undefined) return reply.code(401).send({ code: 'REFRESH_TOKEN_INVALID' })
  return {
    accessToken: sign({ sub: row.user_id, sid: row.session_id, appid: row.appid, jti: randomUUID() }),
    tokenType: 'Bearer',
    expiresIn: 900,
    refreshToken: next.token,
    refreshExpiresIn: Math.floor((row.expires_at.getTime() - Date.now()) / 1000)
  }
})
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${address}\n`)
process.on('SIGTERM', () => { app.close().then(() => pool.end()).then(() => process.exit(0), () => process.exit(1)) })
