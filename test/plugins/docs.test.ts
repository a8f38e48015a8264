import t from 'tap'
import { build } from '../helper.js'

t.test('every route is in the OpenAPI document, with its responses and security', async (t) => {
  const { app } = await build(t)
  // Fastify prints its routes as a tree, four columns per level: rebuild each full path.
  const routes: string[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?) \(([A-Z, ]+)\)$/.exec(line)
    if (match === null) continue
    const depth = match[1]!.length / 4
    stack.length = depth
    stack.push(match[2]!)
    for (const method of match[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${stack.join('')}`)
  }
  const ours = routes.filter((r) => !r.includes('/docs'))
  t.ok(routes.includes('POST /v1/auth/logout-all'), 'nested routes are rebuilt')
  t.ok(ours.length >= 12, `${ours.length} routes found`)
  const spec = app.swagger() as unknown as {
    openapi: string
    paths: Record<string, Record<string, { responses: Record<string, unknown>, security?: unknown[] }>>
  }
  t.equal(spec.openapi, '3.1.0')
  for (const route of ours) {
    const [method, path] = route.split(' ') as [string, string]
    const operation = spec.paths[path]?.[method.toLowerCase()]
    t.ok(operation, `${route} is documented`)
    t.ok(operation !== undefined && Object.keys(operation.responses).length > 0, `${route} documents its responses`)
  }
  t.same(Object.keys(spec.paths['/v1/auth/login']!.post!.responses).sort(), ['200', '400', '401', '403', '429', '500', '502', '503', '504'])
  t.same(spec.paths['/v1/me']!.get!.security, [{ bearer: [] }])
})

t.test('/docs serves the UI and /docs/json the document', async (t) => {
  const { app } = await build(t)
  const ui = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /text\/html/)
  const json = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(json.statusCode, 200)
  t.ok(json.json().paths['/v1/auth/refresh'])
})

t.test('security headers for a JSON API; CORS off unless configured', async (t) => {
  const { app } = await build(t)
  const res = await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } })
  t.equal(res.headers['x-content-type-options'], 'nosniff')
  t.equal(res.headers['x-frame-options'], 'DENY')
  t.equal(res.headers['cache-control'], 'no-store', 'answers carry tokens: never cached')
  t.match(res.headers['content-security-policy'], /default-src 'none'/)
  t.match(res.headers['strict-transport-security'], /max-age=/)
  t.equal(res.headers['access-control-allow-origin'], undefined)
  t.equal(res.headers['x-powered-by'], undefined)

  const withCors = await build(t, { env: { CORS_ORIGINS: 'https://admin.example.com' } })
  const allowed = await withCors.app.inject({ method: 'OPTIONS', url: '/v1/auth/refresh', headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST' } })
  t.equal(allowed.headers['access-control-allow-origin'], 'https://admin.example.com')
  const denied = await withCors.app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'https://evil.example' } })
  t.equal(denied.headers['access-control-allow-origin'], undefined)
})
