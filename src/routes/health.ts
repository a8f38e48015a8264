import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { isConnectionError } from '../db/errors.js'

const READY_TIMEOUT_MS = 2000

const Status = Type.Object({ status: Type.String() })
const NotReady = Type.Object({ status: Type.Literal('unavailable'), reason: Type.String() })

async function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Status } }
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'The database is reachable', response: { 200: Status, 503: NotReady } }
  }, async (request, reply) => {
    try {
      await withTimeout(app.db.ping(), READY_TIMEOUT_MS)
      return { status: 'ready' }
    } catch (error) {
      // The cause goes to the log; the answer is public, so it says no more than this.
      const reason = isConnectionError(error) ? 'database unreachable' : 'database check failed'
      request.log.warn({ err: error }, `readiness: ${reason}`)
      return reply.code(503).send({ status: 'unavailable' as const, reason })
    }
  })
}

export default health
