import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import fastifyJwt from '@fastify/jwt'
import rateLimit from '@fastify/rate-limit'
import Fastify, { LogController } from 'fastify'
import helmet from 'helmet'
import { pino } from 'pino'
import { Histogram, Registry } from 'prom-client'

// One Fastify "hello" with the features named in FEATURES switched on, each
// configured as src/ uses it (or as it used it before a measured change).
const on = new Set((process.env.FEATURES ?? '').split(',').filter(Boolean))
const redact = on.has('redact-wildcards')
  ? ['req.headers.authorization', '*.secret', '*.accessToken', '*.refreshToken', '*.session_key', '*.encryptedData', '*.iv', '*.signature', 'body']
  : ['req.headers.authorization', 'secret', 'accessToken', 'refreshToken', 'session_key', 'encryptedData', 'iv', 'signature', 'body']
const logging = on.has('log') || on.has('redact-wildcards')
const logger = logging ? pino({ level: 'info', redact }, pino.destination({ dest: '/dev/null', sync: false })) : undefined
const app = Fastify(logger ? { loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }) } : {})
const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' })
if (on.has('jwt')) {
  await app.register(fastifyJwt, {
    secret: { private: pem, public: createPublicKey(pem).export({ type: 'spki', format: 'pem' }) },
    sign: { algorithm: 'EdDSA' },
    verify: { algorithms: ['EdDSA'], cache: true }
  })
}
if (on.has('helmet-per-request')) {
  const headers = helmet()
  app.addHook('onRequest', (request, reply, done) => headers(request.raw, reply.raw, done))
}
if (on.has('static-headers')) {
  const headers = { 'content-security-policy': "default-src 'none'", 'strict-transport-security': 'max-age=31536000; includeSubDomains', 'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN', 'referrer-policy': 'no-referrer', 'cross-origin-resource-policy': 'same-origin' }
  app.addHook('onRequest', (_request, reply, done) => { reply.headers(headers); done() })
}
if (on.has('rate-limit') || on.has('rate-limit-headers')) {
  const quiet = { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false }
  await app.register(rateLimit, { global: true, max: 1e9, timeWindow: 60_000, ...(on.has('rate-limit-headers') ? {} : { addHeadersOnExceeding: quiet }) })
}
if (logging) {
  app.addHook('onResponse', async (request, reply) => { request.log.info({ method: request.method, path: request.url, status: reply.statusCode, ms: reply.elapsedTime }, 'request') })
}
if (on.has('metrics')) {
  // As src/plugins/metrics.ts: one histogram observation per response.
  const registry = new Registry()
  const seconds = new Histogram({ name: 'http_request_duration_seconds', help: 'h', labelNames: ['route', 'method', 'status_code'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
  app.addHook('onResponse', (request, reply, done) => {
    seconds.observe({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    done()
  })
}
app.get('/hello', async (request) => on.has('jwt') ? { sub: app.jwt.verify(request.headers.authorization.slice(7)).sub } : { hello: 'world' })
await app.ready()
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${address} token ${on.has('jwt') ? app.jwt.sign({ sub: 'user' }) : '-'}\n`)
