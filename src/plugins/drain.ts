import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * While the app closes, responses to in-flight requests carry
 * `Connection: close`, so keep-alive clients let go and the server can finish
 * closing instead of waiting out their idle timeout.
 */
export default fp(async function drain (app: FastifyInstance) {
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'drain' })
