import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { addressKey } from './rate-limit.js'

/** The soft limit on open descriptors (`ulimit -n`): /proc on Linux, the shell elsewhere, 1024 if neither answers. */
export function descriptorLimit (): number {
  const parse = (text: string | undefined): number | undefined =>
    text === 'unlimited' ? Infinity : /^[0-9]+$/.test(text ?? '') ? Number(text) : undefined
  try {
    const limit = parse(/^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1])
    if (limit !== undefined) return limit
  } catch { /* not Linux */ }
  try {
    const limit = parse(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000 }).trim())
    if (limit !== undefined) return limit
  } catch { /* no shell */ }
  return 1024
}

/** Descriptors kept for everything but clients: Node's own, logs, Redis, the metrics listener (the pool and WeChat's sockets are added). */
const RESERVED = 64

export interface ConnectionOptions {
  /** MAX_CONNECTIONS; absent: what the descriptor limit leaves. */
  max?: number
  perIp: number
  /** Descriptors the pool and the WeChat client may hold open. */
  outbound: number
  /** Trusted proxies: their connections carry many clients, so only the overall cap applies to them. */
  exempt: (address: string) => boolean
  clock: () => number
  descriptors?: number
}

const WARN_EVERY_MS = 60_000

/**
 * Past the descriptor limit a Node server cannot accept, and every client gets
 * ECONNRESET: 1100 half-sent requests from one client did that under 1024.
 * So connections are capped overall below that limit (Node refuses them at
 * accept, server.maxConnections) and per client address (closed as they open),
 * each refusal counted, with one warning a minute at most. Half-sent requests
 * end anyway after Fastify's requestTimeout (app.ts).
 */
export default fp(async function connections (app: FastifyInstance, opts: ConnectionOptions) {
  const descriptors = opts.descriptors ?? descriptorLimit()
  const budget = descriptors - RESERVED - opts.outbound
  if (budget < 1) throw new Error(`the descriptor limit (ulimit -n ${descriptors}) leaves no room for clients beside ${opts.outbound} outbound connections (DATABASE_POOL_SIZE + WECHAT_MAX_CONNECTIONS): raise it, or lower those`)
  if (opts.max !== undefined && opts.max > budget) app.log.warn(`MAX_CONNECTIONS=${opts.max} is more than the descriptor limit (ulimit -n ${descriptors}) leaves: ${budget} used`)
  const max = Math.min(opts.max ?? budget, budget)
  const perIp = Math.min(opts.perIp, max)
  app.server.maxConnections = max

  let refused = 0
  let lastWarning = -Infinity
  const refuse = (cap: string, address: string | undefined): void => {
    refused++
    if (opts.clock() - lastWarning < WARN_EVERY_MS) return
    lastWarning = opts.clock()
    app.log.warn({ refused, address, max, perIp }, `connections refused past ${cap} (${refused} since the last warning)`)
    refused = 0
  }
  app.server.on('drop', (data?: { remoteAddress?: string }) => { refuse('MAX_CONNECTIONS', data?.remoteAddress) })

  const open = new Map<string, number>()
  app.server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress
    if (address === undefined || opts.exempt(address)) return
    // An IPv6 client counts by its /64, as the rate limits count it.
    const group = addressKey(address)
    const count = (open.get(group) ?? 0) + 1
    if (count > perIp) {
      socket.destroy()
      refuse('MAX_CONNECTIONS_PER_IP', group)
      return
    }
    open.set(group, count)
    socket.once('close', () => {
      const left = open.get(group)! - 1
      if (left === 0) open.delete(group)
      else open.set(group, left)
    })
  })
}, { name: 'connections' })
