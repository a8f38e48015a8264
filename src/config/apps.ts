import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import Type from 'typebox'
import { Value } from 'typebox/value'
import type { Env } from './env.js'

// APPS (issue 21): one entry per mini-program, on any platform, its keys
// parsed here; WECHAT_APPID/WECHAT_SECRET/WECHAT_APPS become wechat entries.

export const PLATFORMS = ['wechat', 'qq', 'douyin', 'baidu', 'alipay', 'kuaishou'] as const
export type Platform = typeof PLATFORMS[number]

/** What the WeChat code path reads (config.wechat.apps). */
export interface WechatApp {
  appid: string
  secret: string
}

interface AppOf<P extends Platform> {
  platform: P
  appid: string
  /** Replaces every origin of the platform's API (no trailing slash); absent: the platform's own. */
  apiBase?: string
}

export interface SecretApp<P extends 'wechat' | 'qq' | 'kuaishou' = 'wechat' | 'qq' | 'kuaishou'> extends AppOf<P> { secret: string }
export interface DouyinApp extends AppOf<'douyin'> {
  secret: string
  /** For the newer phone-number API. */
  rsaPrivateKey?: KeyObject
}
export interface BaiduApp extends AppOf<'baidu'> {
  /** client_id */
  appKey: string
  /** sk */
  secret: string
}
export interface AlipayApp extends AppOf<'alipay'> {
  /** The app's RSA2 private key: signs every call. */
  privateKey: KeyObject
  /** Verifies Alipay's answers. */
  alipayPublicKey: KeyObject
  /** AES-128: the content-encryption key. */
  aesKey: Buffer
}
export type App = SecretApp<'wechat'> | SecretApp<'qq'> | SecretApp<'kuaishou'> | DouyinApp | BaiduApp | AlipayApp

/** The AppSecret, login codes and session_keys travel to this origin: TLS, unless it never leaves the machine. */
export function isTlsOrLoopback (url: string): boolean {
  return /^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/])/.test(url)
}

export function checkWechatPair (env: Env, problems: string[]): void {
  if ((env.WECHAT_APPID === undefined) !== (env.WECHAT_SECRET === undefined)) {
    problems.push('WECHAT_APPID and WECHAT_SECRET: set both or neither')
  }
}

/** Production talks to the real platforms, WeChat over TLS; at least one app is configured (APPS alone will do). */
export function checkWechatProduction (env: Env, problems: string[]): void {
  if (!isTlsOrLoopback(env.WECHAT_API_BASE)) {
    problems.push('WECHAT_API_BASE: must be https:// when NODE_ENV=production (plain http only to a loopback address)')
  }
  if (env.WECHAT_APPID === undefined && env.WECHAT_APPS === undefined && env.APPS === undefined) {
    problems.push('WECHAT_APPID and WECHAT_SECRET (or WECHAT_APPS, or APPS): required when NODE_ENV=production (the bundled fake WeChat is for development only)')
  }
}

const AppList = Type.Array(Type.Object({
  appid: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  secret: Type.String({ minLength: 1 })
}), { minItems: 1 })

/** What the WeChat code path serves: every wechat app, of WECHAT_* and of APPS alike. */
export function wechatAppsOf (apps: readonly App[]): WechatApp[] {
  return apps.flatMap((app) => app.platform === 'wechat' ? [{ appid: app.appid, secret: app.secret }] : [])
}

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

type Field = 'secret' | 'appKey' | 'privateKey' | 'alipayPublicKey' | 'aesKey' | 'rsaPrivateKey'

const FIELDS: Record<Platform, { required: Field[], optional: Field[] }> = {
  wechat: { required: ['secret'], optional: [] },
  qq: { required: ['secret'], optional: [] },
  kuaishou: { required: ['secret'], optional: [] },
  douyin: { required: ['secret'], optional: ['rsaPrivateKey'] },
  baidu: { required: ['appKey', 'secret'], optional: [] },
  alipay: { required: ['privateKey', 'alipayPublicKey', 'aesKey'], optional: [] }
}

const rsa = (key: KeyObject): KeyObject | undefined => key.asymmetricKeyType === 'rsa' ? key : undefined

const attempt = <T>(decode: () => T | undefined): T | undefined => {
  try { return decode() } catch { return undefined }
}

/** Each field's decoder and what its refusal says; a refusal never quotes the value. */
const DECODE: Record<Field, [decode: (text: string) => unknown, expected: string]> = {
  secret: [(text) => text, ''],
  appKey: [(text) => text, ''],
  privateKey: [(text) => attempt(() => rsa(createPrivateKey(text))), 'an RSA private key in PEM'],
  rsaPrivateKey: [(text) => attempt(() => rsa(createPrivateKey(text))), 'an RSA private key in PEM'],
  // createPublicKey would also take a private key (and derive its public half): only a public PEM is one.
  alipayPublicKey: [(text) => /-----BEGIN (RSA )?PUBLIC KEY-----/.test(text) ? attempt(() => rsa(createPublicKey(text))) : undefined, 'an RSA public key in PEM'],
  aesKey: [(text) => /^[A-Za-z0-9+/]{22}==$/.test(text) ? Buffer.from(text, 'base64') : undefined, 'base64 of 16 bytes']
}

const APPID = /^[A-Za-z0-9_-]{1,64}$/

function readApiBase (value: unknown, label: string, env: Env, problems: string[]): string | undefined {
  let url: URL | undefined
  if (typeof value === 'string') url = attempt(() => new URL(value))
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || typeof value !== 'string') {
    problems.push(`${label}: apiBase must be an http:// or https:// URL`)
    return undefined
  }
  if (env.NODE_ENV === 'production' && !isTlsOrLoopback(value)) {
    problems.push(`${label}: apiBase must be https:// when NODE_ENV=production (plain http only to a loopback address)`)
  }
  return value.replace(/\/+$/, '')
}

/** One APPS entry, or undefined with its every problem reported. */
function readApp (entry: unknown, index: number, env: Env, problems: string[]): App | undefined {
  const where = `APPS[${index}]`
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    problems.push(`${where}: must be an object such as {"platform":"wechat","appid":"...","secret":"..."}`)
    return undefined
  }
  const fields = entry as Record<string, unknown>
  const platform = PLATFORMS.find((p) => p === fields.platform)
  if (platform === undefined) {
    problems.push(`${where}: platform must be one of ${PLATFORMS.join(', ')}`)
    return undefined
  }
  const label = `${where} (${platform})`
  const before = problems.length
  const { required, optional } = FIELDS[platform]
  const app: Record<string, unknown> = { platform, appid: fields.appid }
  if (typeof fields.appid !== 'string' || !APPID.test(fields.appid)) problems.push(`${label}: appid must be 1-64 letters, digits, _ or -`)
  for (const name of Object.keys(fields)) {
    if (!['platform', 'appid', 'apiBase', ...required, ...optional].includes(name)) {
      problems.push(`${label}: ${/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(name) ? `${name} is not a field of a ${platform} app` : 'a field name is unknown'}`)
    }
  }
  for (const name of [...required, ...optional]) {
    const value = fields[name]
    if (value === undefined && optional.includes(name)) continue
    if (value === undefined) { problems.push(`${label}: ${name} is required`); continue }
    if (typeof value !== 'string' || value === '') { problems.push(`${label}: ${name} must be a non-empty string`); continue }
    const [decode, expected] = DECODE[name]
    app[name] = decode(value)
    if (app[name] === undefined) problems.push(`${label}: ${name} must be ${expected}`)
  }
  // One WeChat client serves every wechat app: its origin is WECHAT_API_BASE, not a per-app one it would ignore.
  if (fields.apiBase !== undefined && platform === 'wechat') problems.push(`${label}: apiBase is not a field of a wechat app (WECHAT_API_BASE sets WeChat's)`)
  else if (fields.apiBase !== undefined) app.apiBase = readApiBase(fields.apiBase, label, env, problems)
  return problems.length === before ? app as unknown as App : undefined
}

/**
 * Every app: the WeChat ones of WECHAT_APPID/WECHAT_SECRET/WECHAT_APPS, then
 * APPS (a JSON list, `platform` telling which fields each entry has). An appid
 * names one app across all of them.
 */
export function readApps (env: Env, wechat: WechatApp[], problems: string[]): App[] {
  const apps: App[] = wechat.map(({ appid, secret }) => ({ platform: 'wechat', appid, secret }))
  if (env.APPS === undefined) return apps
  let list: unknown
  try { list = JSON.parse(env.APPS) } catch { list = undefined }
  if (!Array.isArray(list) || list.length === 0) {
    problems.push('APPS: must be a JSON list like [{"platform":"douyin","appid":"tt...","secret":"..."}]')
    return apps
  }
  const where = new Map(apps.map((app) => [app.appid, 'in WECHAT_APPID or WECHAT_APPS']))
  list.forEach((entry, index) => {
    const app = readApp(entry, index, env, problems)
    if (app === undefined) return
    const other = where.get(app.appid)
    if (other !== undefined) problems.push(`APPS[${index}] (${app.platform}): its appid is also ${other}`)
    else { apps.push(app); where.set(app.appid, `APPS[${index}]'s`) }
  })
  return apps
}
