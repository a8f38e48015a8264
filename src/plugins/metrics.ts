import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  /** A login's or a refresh's outcome (`ok` or the error code the client got). */
  authOutcome: (type: string, outcome: string, appid: string | undefined) => void
  /** One call to WeChat's API: `ok`, `errcode_<n>`, `timeout`, `unavailable`, `overloaded`. */
  wechatCall: (api: string, outcome: string, seconds?: number) => void
  /** One call to another platform's API: `ok`, `refused_<kind>`, `timeout`, `unavailable`, `overloaded`, `error`. */
  platformCall: (platform: string, api: string, outcome: string, seconds?: number) => void
  /** A request refused by one of our rate limits (ip, login, refresh, user). */
  rateLimited: (limit: string) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
    /** Where GET /metrics answers, when METRICS_PORT is set. */
    metricsUrl?: string
  }
}

const NONE: Metrics = { authOutcome: () => {}, wechatCall: () => {}, platformCall: () => {}, rateLimited: () => {} }

export interface MetricsOptions {
  /** METRICS_PORT: unset, no metrics at all (and no per-request cost). */
  port?: number
  host: string
  /** The appids configured: any other label value is `unknown`, so labels stay bounded. */
  appids: string[]
}

/** A scraper or two; more are refused at accept. */
const METRICS_MAX_CONNECTIONS = 16

/**
 * Prometheus text at GET /metrics on a listener of its own (METRICS_HOST:
 * METRICS_PORT), never on the public port: the service's counters, WeChat's
 * answers and latency, HTTP latency per route, the database pool and the
 * default process metrics.
 */
export default fp(async function metrics (app: FastifyInstance, opts: MetricsOptions) {
  if (opts.port === undefined) {
    app.decorate('metrics', NONE)
    return
  }
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const known = new Set(opts.appids)
  const logins = new Counter({ name: 'weapp_auth_logins_total', help: 'Logins by mini-program and outcome (ok, or the error code the client got)', labelNames: ['appid', 'outcome'], registers: [registry] })
  const refreshes = new Counter({ name: 'weapp_auth_refreshes_total', help: 'Refreshes by outcome (ok, or the error code the client got)', labelNames: ['outcome'], registers: [registry] })
  const wechatCalls = new Counter({ name: 'weapp_auth_wechat_requests_total', help: "Calls to WeChat's API by API and outcome", labelNames: ['api', 'outcome'], registers: [registry] })
  const wechatSeconds = new Histogram({ name: 'weapp_auth_wechat_request_duration_seconds', help: "Time WeChat's API took to answer (connection wait excluded)", labelNames: ['api'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] })
  // The other platforms apart from WeChat's series, which stay as they were; every label comes from a bounded set.
  const platformCalls = new Counter({ name: 'weapp_auth_platform_requests_total', help: "Calls to another platform's API (QQ, Douyin, Kuaishou, Baidu, Alipay) by platform, API and outcome", labelNames: ['platform', 'api', 'outcome'], registers: [registry] })
  const platformSeconds = new Histogram({ name: 'weapp_auth_platform_request_duration_seconds', help: "Time another platform's API took to answer (connection wait excluded)", labelNames: ['platform', 'api'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] })
  const httpSeconds = new Histogram({ name: 'weapp_auth_http_request_duration_seconds', help: 'Time to answer an HTTP request, by route, method and status', labelNames: ['route', 'method', 'status_code'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })
  const limited = new Counter({ name: 'weapp_auth_rate_limit_rejections_total', help: 'Requests refused by a rate limit, by limit', labelNames: ['limit'], registers: [registry] })
  const pool = () => app.db.poolStats()
  new Gauge({ name: 'weapp_auth_db_pool_in_use', help: 'Database connections in use', registers: [registry], collect () { this.set(pool().inUse) } }) // eslint-disable-line no-new
  new Gauge({ name: 'weapp_auth_db_pool_waiting', help: 'Requests waiting for a database connection', registers: [registry], collect () { this.set(pool().waiting) } }) // eslint-disable-line no-new

  app.decorate('metrics', {
    authOutcome: (type, outcome, appid) => {
      if (type === 'login') logins.inc({ appid: appid !== undefined && known.has(appid) ? appid : 'unknown', outcome })
      else if (type === 'refresh') refreshes.inc({ outcome })
    },
    wechatCall: (api, outcome, seconds) => {
      wechatCalls.inc({ api, outcome })
      if (seconds !== undefined) wechatSeconds.observe({ api }, seconds)
    },
    platformCall: (platform, api, outcome, seconds) => {
      platformCalls.inc({ platform, api, outcome })
      if (seconds !== undefined) platformSeconds.observe({ platform, api }, seconds)
    },
    rateLimited: (limit) => { limited.inc({ limit }) }
  } satisfies Metrics)
  app.addHook('onResponse', (request, reply, done) => {
    httpSeconds.observe({ route: request.routeOptions.url ?? 'unmatched', method: request.method, status_code: reply.statusCode }, reply.elapsedTime / 1000)
    done()
  })

  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') { res.writeHead(404).end(); return }
    registry.metrics().then(
      (text) => { res.writeHead(200, { 'content-type': registry.contentType }).end(text) },
      () => { res.writeHead(500).end() })
  })
  // Within the descriptors connections.ts keeps aside for it: uncapped, half-sent requests here
  // would take every descriptor and the public port could accept no one.
  server.maxConnections = METRICS_MAX_CONNECTIONS
  server.headersTimeout = 10_000
  server.requestTimeout = 10_000
  // And one that sends nothing, or stays open after its answer, is closed when idle.
  server.timeout = 10_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve() })
  })
  const { address, port } = server.address() as AddressInfo
  app.decorate('metricsUrl', `http://${address.includes(':') ? `[${address}]` : address}:${port}/metrics`)
  app.log.info(`metrics at ${app.metricsUrl}`)
  app.addHook('onClose', async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
}, { name: 'metrics', dependencies: ['database'] })
