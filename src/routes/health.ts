import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'

const Status = Type.Object({ status: Type.String() })
const NotReady = Type.Object({ status: Type.Literal('unavailable'), reason: Type.String() })

const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', {
    schema: { tags: ['health'], summary: 'The process is alive', response: { 200: Status } }
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'The database is reachable (checked at most once a second)', response: { 200: Status, 503: NotReady } }
  }, async (_request, reply) => {
    const verdict = await app.readiness.check()
    return verdict.ready ? { status: 'ready' } : reply.code(503).send({ status: 'unavailable' as const, reason: verdict.reason })
  })
}

export default health
