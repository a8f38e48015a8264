import Type from 'typebox'
import { Value } from 'typebox/value'
import type { Env } from './env.js'

export interface WechatApp {
  appid: string
  secret: string
}

/** The AppSecret, login codes and session_keys travel to this origin: TLS, unless it never leaves the machine. */
export function isTlsOrLoopback (url: string): boolean {
  return /^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/.test(url)
}

export function checkWechatPair (env: Env, problems: string[]): void {
  if ((env.WECHAT_APPID === undefined) !== (env.WECHAT_SECRET === undefined)) {
    problems.push('WECHAT_APPID and WECHAT_SECRET: set both or neither')
  }
}

/** Production talks to the real WeChat, over TLS. */
export function checkWechatProduction (env: Env, problems: string[]): void {
  if (!isTlsOrLoopback(env.WECHAT_API_BASE)) {
    problems.push('WECHAT_API_BASE: must be https:// when NODE_ENV=production (plain http only to a loopback address)')
  }
  if (env.WECHAT_APPID === undefined && env.WECHAT_APPS === undefined) problems.push('WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS): required when NODE_ENV=production (the bundled fake WeChat is for development only)')
}

const AppList = Type.Array(Type.Object({
  appid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  secret: Type.String({ minLength: 1 })
}), { minItems: 1 })

/** WECHAT_APPS (JSON list) plus the WECHAT_APPID/WECHAT_SECRET pair; one entry per appid. */
export function readWechatApps (env: Env, problems: string[]): WechatApp[] {
  const apps: WechatApp[] = []
  if (env.WECHAT_APPS !== undefined) {
    let list: unknown
    try { list = JSON.parse(env.WECHAT_APPS) } catch { list = undefined }
    if (Value.Check(AppList, list)) apps.push(...list.map(({ appid, secret }) => ({ appid, secret })))
    else problems.push('WECHAT_APPS: must be a JSON list like [{"appid":"wx...","secret":"..."}]')
  }
  if (env.WECHAT_APPID !== undefined && env.WECHAT_SECRET !== undefined) {
    const same = apps.find((app) => app.appid === env.WECHAT_APPID)
    if (same === undefined) apps.push({ appid: env.WECHAT_APPID, secret: env.WECHAT_SECRET })
    else if (same.secret !== env.WECHAT_SECRET) problems.push('WECHAT_APPID: also in WECHAT_APPS with another secret')
  }
  if (new Set(apps.map((app) => app.appid)).size !== apps.length) problems.push('WECHAT_APPS: an appid appears twice')
  return apps
}
