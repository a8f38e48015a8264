import type { App, SecretApp } from '../config/apps.js'
import { PlatformRefusal, type Platform, type PlatformIdentity } from './adapter.js'
import { AlipayAdapter, isAlipayBusy } from './alipay.js'
import { BaiduAdapter, isBaiduBusy } from './baidu.js'
import { DouyinAdapter } from './douyin.js'
import { KuaishouAdapter } from './kuaishou.js'
import { QqAdapter } from './qq.js'
import { Transport, type TransportOptions } from './transport.js'

// One adapter per platform an app of APPS names (WeChat has its own client),
// each on a Transport of its own: a slow platform fills its own slots, never
// another's. The service asks here; it never builds an adapter itself.

/** An app of a platform other than WeChat. */
export type PlatformApp = Exclude<App, SecretApp<'wechat'>>
export type OtherPlatform = PlatformApp['platform']

export const isPlatformApp = (app: App): app is PlatformApp => app.platform !== 'wechat'

export interface RegistryOptions extends Pick<TransportOptions, 'timeoutMs' | 'maxConnections' | 'maxPending' | 'retryAfterSeconds' | 'busyAttempts' | 'busyBackoffMs'> {
  /** Told of every call to a platform: its API, outcome (bounded labels) and time on the wire. */
  observe?: (platform: Platform, api: string, outcome: string, seconds?: number) => void
}

export interface ExchangeOptions {
  /** A Douyin anonymousCode: refused (code_anonymous) before any call. */
  anonymous?: boolean
}

/** Outcome labels from a bounded set: a lying platform cannot mint metric series. */
const outcomeOf = (error: unknown): string => error instanceof PlatformRefusal ? `refused_${error.kind}` : 'error'

interface Adapters {
  qq?: QqAdapter
  douyin?: DouyinAdapter
  kuaishou?: KuaishouAdapter
  baidu?: BaiduAdapter
  alipay?: AlipayAdapter
}

export class PlatformRegistry {
  private readonly adapters: Adapters = {}
  private readonly closers: Array<() => Promise<void>> = []

  constructor (apps: readonly App[], options: RegistryOptions) {
    const { observe, ...transport } = options
    const platforms = new Set(apps.filter(isPlatformApp).map((app) => app.platform))
    const observer = (platform: Platform) => observe === undefined
      ? {}
      : { observe: (api: string, outcome: string, seconds?: number) => { observe(platform, api, outcome, seconds) } }
    const own = (platform: Platform, retryIf: (error: unknown) => boolean): Transport => {
      const made = new Transport({ ...transport, ...observer(platform), outcomeOf, retryIf })
      this.closers.push(async () => { await made.close() })
      return made
    }
    const keep = <A extends { close: () => Promise<void> }>(adapter: A): A => {
      this.closers.push(async () => { await adapter.close() })
      return adapter
    }
    if (platforms.has('qq')) this.adapters.qq = keep(new QqAdapter({ ...transport, ...observer('qq') }))
    if (platforms.has('douyin')) this.adapters.douyin = keep(new DouyinAdapter({ ...transport, ...observer('douyin') }))
    if (platforms.has('kuaishou')) this.adapters.kuaishou = keep(new KuaishouAdapter({ ...transport, ...observer('kuaishou') }))
    if (platforms.has('baidu')) this.adapters.baidu = new BaiduAdapter(own('baidu', isBaiduBusy))
    if (platforms.has('alipay')) this.adapters.alipay = new AlipayAdapter(own('alipay', isAlipayBusy))
  }

  /** Who the platform's server says the code belongs to (PlatformRefusal or a transport error otherwise). */
  async exchange (app: PlatformApp, code: string, { anonymous = false }: ExchangeOptions = {}): Promise<PlatformIdentity> {
    switch (app.platform) {
      case 'qq': return this.adapter('qq').exchange(app, code)
      case 'douyin': return this.adapter('douyin').exchange(app, code, { anonymous })
      case 'kuaishou': return this.adapter('kuaishou').exchange(app, code)
      case 'baidu': return this.adapter('baidu').exchange(app, code)
      case 'alipay': return this.adapter('alipay').exchange(app, code)
    }
  }

  async close (): Promise<void> {
    await Promise.all(this.closers.map(async (close) => close()))
  }

  /** The adapter of a platform some app names (the user-data routes use its crypto). */
  adapter<P extends keyof Adapters> (platform: P): NonNullable<Adapters[P]> {
    const adapter = this.adapters[platform]
    // A wiring mistake: every app the service was built with has its platform's adapter.
    if (adapter === undefined) throw new Error(`no ${platform} adapter: no ${platform} app was configured`)
    return adapter
  }
}
