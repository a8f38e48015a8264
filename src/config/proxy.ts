import { isIP } from 'node:net'
import type { Env } from './env.js'

export function parseTrustProxy (text: string): false | number | string[] {
  if (text === 'false') return false
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10)
  return text.split(',').map((entry) => entry.trim()).filter(Boolean)
}

/** An address, or a network no wider than 10.0.0.0/8 (IPv4) or fc00::/7 (IPv6): 0.0.0.0/1 and 128.0.0.0/1 are `true` in two parts. */
function isProxyNetwork (entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/')
  const family = isIP(address!)
  if (family === 0 || rest.length > 0) return false
  if (bits === undefined) return true
  const [widest, narrowest] = family === 4 ? [8, 32] : [7, 128]
  return /^[0-9]{1,3}$/.test(bits) && Number(bits) >= widest && Number(bits) <= narrowest
}

// Refused in every environment: a setting that means nothing safe anywhere should not work in development and fail in production.
export function checkProxy (env: Env, problems: string[]): void {
  if (env.TRUST_PROXY === 'true') {
    problems.push('TRUST_PROXY: true lets every client choose its address (the left-most X-Forwarded-For entry); set a hop count (e.g. 1 behind one load balancer) or the proxies\' addresses or CIDRs (e.g. 10.0.0.0/8)')
  }
  if (!/^(true|false|[0-9]+)$/.test(env.TRUST_PROXY)) {
    const wrong = parseTrustProxy(env.TRUST_PROXY) as string[]
    if (wrong.some((entry) => !isProxyNetwork(entry))) {
      problems.push('TRUST_PROXY: each entry must be a proxy\'s address or network (an IPv4 CIDR of /8 or narrower, an IPv6 one of /7 or narrower): a wider range trusts any client to choose its address')
    }
  }
  if (env.REQUEST_ID_HEADER !== undefined && /^(false|0+)$/.test(env.TRUST_PROXY)) {
    problems.push('REQUEST_ID_HEADER: is read only from a trusted proxy; set TRUST_PROXY to a hop count or the proxies\' addresses')
  }
}
