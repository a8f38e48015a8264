import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

/**
 * The team's own API, as docs/api.md tells it to work: it trusts the access
 * token by the service's public keys at /.well-known/jwks.json (EdDSA here)
 * and never calls the service. Routes:
 * - GET /orders: 200 { userId } for a valid token
 * - GET /teapot: 418; GET /busy: 503 with Retry-After: 7 (statuses the app handles itself)
 * - GET /forbidden: 401 { code: 'NOT_A_MEMBER' } for any valid token (no login cures it)
 * A token whose jti is in `expire` is answered 401 ACCESS_TOKEN_EXPIRED, as if its time had come.
 */
export interface AppApi {
  url: string
  /** Requests received, by path. */
  hits: (path: string) => number
  /** Every Authorization header received. */
  authorizations: string[]
  expire: Set<string>
}

export async function startAppApi (t: Test, serviceUrl: string): Promise<AppApi> {
  const { keys } = await (await fetch(`${serviceUrl}/.well-known/jwks.json`)).json() as { keys: (Record<string, string> & { kid: string })[] }
  const publicKeys = new Map<string, KeyObject>(keys.map((jwk) => [jwk.kid, createPublicKey({ key: jwk, format: 'jwk' })]))
  const counts = new Map<string, number>()
  const api: AppApi = { url: '', hits: (path) => counts.get(path) ?? 0, authorizations: [], expire: new Set() }

  const claimsOf = (authorization: string | undefined): { sub: string, jti: string, exp: number } | undefined => {
    const [header, payload, signature] = (authorization ?? '').replace(/^Bearer /, '').split('.')
    if (signature === undefined) return undefined
    const { kid } = JSON.parse(Buffer.from(header!, 'base64url').toString()) as { kid: string }
    const key = publicKeys.get(kid)
    if (key === undefined || !verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return undefined
    return JSON.parse(Buffer.from(payload!, 'base64url').toString())
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://api').pathname
    counts.set(path, api.hits(path) + 1)
    api.authorizations.push(req.headers.authorization ?? '')
    const json = (status: number, body: object, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
    }
    const claims = claimsOf(req.headers.authorization)
    if (claims === undefined) return json(401, { code: 'ACCESS_TOKEN_INVALID' })
    if (claims.exp * 1000 < Date.now() || api.expire.has(claims.jti)) return json(401, { code: 'ACCESS_TOKEN_EXPIRED' })
    if (path === '/forbidden') return json(401, { code: 'NOT_A_MEMBER', message: 'not a member of this club' })
    if (path === '/orders') return json(200, { userId: claims.sub })
    if (path === '/teapot') return json(418, { message: "I'm a teapot" })
    if (path === '/busy') return json(503, { message: 'busy' }, { 'retry-after': '7' })
    json(404, { message: 'not found' })
  }

  const server = createServer(handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return api
}
