import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

// The client writes the path, up to Node's 16 KB request line: a 15 KB path made a 15 KB line.
const MAX_PATH = 256
const logPath = (url: string): string => {
  const path = url.split('?')[0]!
  return path.length <= MAX_PATH ? path : `${path.slice(0, MAX_PATH)}…`
}

/**
 * One JSON line per request, written when the response is sent. Only chosen
 * fields: no headers, no bodies, no query strings, so tokens, codes and
 * encryptedData never reach the log by this path.
 */
export default fp(async function requestLog (app: FastifyInstance) {
  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const user = (request as { user?: { sub?: string } }).user
    request.log.info({
      method: request.method,
      path: logPath(request.url),
      route: request.routeOptions.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ip: request.ip,
      ...(user?.sub !== undefined ? { userId: user.sub } : {})
    }, 'request')
    done()
  })
}, { name: 'request-log' })
