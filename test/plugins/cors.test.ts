import t from 'tap'
import { build } from '../helper.js'

t.test('attack: a flood of CORS preflights is refused with 429 past the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: 'https://admin.example.com', RATE_LIMIT_GLOBAL_MAX: '5' } })
  const preflight = () => app.inject({ method: 'OPTIONS', url: '/v1/auth/refresh', remoteAddress: '203.0.113.9', headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST' } })
  const answers = []
  for (let i = 0; i < 20; i++) answers.push(await preflight())
  t.same(answers.map((a) => a.statusCode), [...Array(5).fill(204), ...Array(15).fill(429)])
  const first = answers[0]!
  t.equal(first.headers['access-control-allow-origin'], 'https://admin.example.com', 'an allowed preflight is answered as before')
  t.match(first.headers['access-control-allow-methods'], /POST/)
  t.equal(first.headers['content-length'], '0')
  t.equal(first.body, '')
  const refused = answers[5]!
  t.equal(refused.json().code, 'RATE_LIMITED')
  t.equal(refused.headers['access-control-allow-origin'], 'https://admin.example.com', 'the 429 is readable by the allowed origin')
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: '203.0.113.9' })).statusCode, 429, 'preflights spent the same budget as every other request')
  t.equal((await app.inject({ method: 'OPTIONS', url: '/v1/auth/refresh', remoteAddress: '203.0.113.10', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })).headers['access-control-allow-origin'], undefined, 'another origin still gets no CORS header')
})

t.test('attack: a flood of malformed preflights (no Origin, no method) is refused with 429 past the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: 'https://admin.example.com', RATE_LIMIT_GLOBAL_MAX: '5' } })
  const statuses = []
  for (let i = 0; i < 10; i++) statuses.push((await app.inject({ method: 'OPTIONS', url: '/v1/auth/refresh', remoteAddress: '203.0.113.11' })).statusCode)
  t.same(statuses.slice(5), Array(5).fill(429), `counted: ${statuses.join(', ')}`)
})

t.test('attack: preflights to the health checks\' URLs count against the per-IP limit', async (t) => {
  const { app } = await build(t, { env: { CORS_ORIGINS: 'https://admin.example.com', RATE_LIMIT_GLOBAL_MAX: '5' } })
  for (const url of ['/healthz', '/readyz']) {
    const statuses = []
    for (let i = 0; i < 20; i++) {
      statuses.push((await app.inject({ method: 'OPTIONS', url, remoteAddress: `203.0.113.${url.length}`, headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'GET' } })).statusCode)
    }
    t.same(statuses, [...Array(5).fill(204), ...Array(15).fill(429)], `OPTIONS ${url}`)
  }
})
