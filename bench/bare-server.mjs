import Fastify from 'fastify'

// The ceiling: Fastify answering a constant, no plugins, in a process of its own like the service.
const app = Fastify()
app.get('/hello', async () => ({ hello: 'world' }))
const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`listening ${address}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
