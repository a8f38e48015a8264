import {
  PlatformBusy, PlatformCodeAnonymous, PlatformCodeInvalid, PlatformConfigInvalid, PlatformError, PlatformOverloaded, PlatformRateLimited,
  PlatformTimeout, PlatformUnavailable, PlatformUserBlocked
} from '../errors.js'
import { PlatformRefusal, type Platform } from '../platforms/adapter.js'
import { TransportOverloaded, TransportTimeout, TransportUnavailable } from '../platforms/transport.js'

// What a platform adapter's failure means to a login's client: each
// RefusalKind and transport failure onto its catalogue class. The platform's
// own code and the transport's reason stay in `detail`, for the log only.

/** How messages name each platform. */
export const PLATFORM_NAMES: Record<Platform, string> = {
  wechat: 'WeChat',
  qq: 'QQ',
  douyin: 'Douyin',
  kuaishou: 'Kuaishou',
  baidu: 'Baidu',
  alipay: 'Alipay'
}

export function platformLoginFailure (platform: Platform, error: unknown): unknown {
  const name = PLATFORM_NAMES[platform]
  if (error instanceof PlatformRefusal) {
    const context = { detail: { platform, refusal: error.kind, upstream: error.upstream } }
    switch (error.kind) {
      case 'code_invalid': return new PlatformCodeInvalid(name, context)
      case 'code_anonymous': return new PlatformCodeAnonymous(name, context)
      case 'user_blocked': return new PlatformUserBlocked(name, context)
      case 'bad_credentials': return new PlatformConfigInvalid(name, context)
      case 'rate_limited': return new PlatformRateLimited(name, context)
      case 'upstream_busy': return new PlatformBusy(name, context)
      case 'other': return new PlatformError(name, context)
    }
  }
  if (error instanceof TransportTimeout) return new PlatformTimeout(name, { detail: { platform } })
  if (error instanceof TransportUnavailable) return new PlatformUnavailable(name, { detail: { platform, reason: error.reason } })
  if (error instanceof TransportOverloaded) return new PlatformOverloaded(name, error.retryAfterSeconds, { detail: { platform } })
  return error
}
