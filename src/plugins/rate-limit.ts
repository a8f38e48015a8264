import { isIP, isIPv6 } from 'node:net'
import rateLimit from '@fastify/rate-limit'
import { Address6 } from 'ip-address'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { RateLimits } from '../config/index.js'
import { RateLimited } from '../errors.js'
import { rateLimitCounters } from './rate-limit-counters.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * `ip`: every request's per-IP limit (a root hook runs it; exposed for requests refused before hooks).
     * Route-level limits on top of it: login and refresh per IP (each its own budget), `user` per user once authenticated.
     */
    rateLimits: { ip: LimitHook, login: LimitHook, refresh: LimitHook, user: LimitHook }
  }
}

/** A callback-style hook: it runs on every request, and an async one would cost a promise more each time. */
export type LimitHook = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void

const EXEMPT = new Set(['/healthz', '/readyz'])

// A translator (NAT64, SIIT-DC) shows each IPv4 client as 64:ff9b::<its address>: cut to the /64,
// every IPv4 client was one, and one of them spent every other's budget.
const NAT64 = new Address6('64:ff9b::/96')

const WITH_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9]{1,3}(?:\.[0-9]{1,3}){3})):[0-9]{1,5}$/

/**
 * The address without the port some proxies append to X-Forwarded-For (Azure
 * Application Gateway: `203.0.113.5:40001`, `[2001:db8::1]:40001`): the port is
 * the client's to choose, and with it every connection was a client of its own.
 */
function withoutPort (ip: string): string {
  if (isIP(ip) !== 0) return ip
  const match = WITH_PORT.exec(ip)
  return match === null ? ip : (match[1] ?? match[2])!
}

/**
 * Who a client is, for every per-client count (the limits, and the audit's
 * one-row-per-client rule): its address, an IPv6 one cut to its /64 (one
 * subscriber's network, where any address is theirs to take), an IPv4-mapped
 * or NAT64 one as IPv4. @fastify/rate-limit's own default and more, written once here so every count agrees.
 */
export function clientKey (request: FastifyRequest): string {
  return addressKey(request.ip ?? '')
}

/** clientKey of an address (the connection caps count a socket's peer with it). */
export function addressKey (peer: string): string {
  const ip = withoutPort(peer)
  if (!isIPv6(ip)) return ip
  const address = new Address6(ip)
  if (address.isMapped4() || address.isInSubnet(NAT64)) return address.to4().correctForm()
  return new Address6(`${ip}/64`).startAddress().correctForm()
}

/**
 * Every request is counted per client IP before anything else runs (a root
 * onRequest hook, so a request with a bad token, or to no route at all, counts
 * too); login and refresh are also counted per IP against their own budget,
 * and the user-data routes per user once authenticated. Limits add up, none
 * replaces another. Counters live in Redis when it answers (see rate-limit-counters.ts).
 */
export default fp(async function limits (app: FastifyInstance, opts: RateLimits & { redisPrefix: string }) {
  await app.register(rateLimit, {
    global: false,
    timeWindow: opts.timeWindowMs,
    store: rateLimitCounters(app.redis, app.redisHealth, opts.redisPrefix) as never
  })

  const limit = (name: string, max: number, keyGenerator: (request: FastifyRequest) => string = clientKey): LimitHook => {
    const check = app.createRateLimit({ max, timeWindow: opts.timeWindowMs, name, keyGenerator } as never)
    return (request, reply, done) => {
      check(request).then((result) => {
        if (result.isAllowed || !result.isExceeded) { done(); return }
        // Headers only on a 429: three more on every response cost a fifth of a light route's throughput.
        reply.headers({ 'x-ratelimit-limit': String(result.max), 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(result.ttlInSeconds) })
        app.metrics.rateLimited(name)
        done(new RateLimited(result.ttlInSeconds))
      }, done)
    }
  }

  const perIp = limit('ip', opts.globalMax)
  app.addHook('onRequest', (request, reply, done) => {
    // The URL alone exempted a preflight, a POST, a DELETE to /healthz too: no health check, all uncounted.
    if ((request.method === 'GET' || request.method === 'HEAD') && EXEMPT.has(request.url)) done()
    else perIp(request, reply, done)
  })
  app.decorate('rateLimits', {
    ip: perIp,
    login: limit('login', opts.authMax),
    refresh: limit('refresh', opts.authMax),
    user: limit('user', opts.userMax, (request) => (request as { user?: { sub: string } }).user!.sub)
  })
}, { name: 'rate-limit', dependencies: ['redis', 'metrics'] })
