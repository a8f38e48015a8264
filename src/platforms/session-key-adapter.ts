import { DecryptFailure, PlatformRefusal, type Platform, type PlatformIdentity, type RefusalKind, type SubjectKind } from './adapter.js'
import { decodeBase64, openSealed, openWatermarked, watermarkOf, type Sealed } from './aes-cbc.js'
import { Transport, TransportUnavailable, type TransportOptions } from './transport.js'

// What QQ, Douyin and Kuaishou adapters share: an app is an id and a secret,
// the login answers with a subject and a session_key, and the client's
// sensitive data is sealed with that key (src/platforms/aes-cbc.ts). Each
// adapter speaks its own envelope; this checks every field the same way.

/** An app of a platform that logs in with an id and a secret. `apiBase` replaces every origin of the platform's API (tests, proxies). */
export interface SecretApp<P extends Platform = Platform> {
  platform: P
  appid: string
  secret: string
  apiBase?: string
}

export interface PlatformPhone {
  phoneNumber: string
  /** Without the country code, where the platform gives it. */
  purePhoneNumber?: string
  countryCode: string
}

export type AdapterOptions = Pick<TransportOptions, 'timeoutMs' | 'maxConnections' | 'maxPending' | 'retryAfterSeconds' | 'observe' | 'busyAttempts' | 'busyBackoffMs'>

/**
 * Whether decrypted data must carry a watermark naming the app (QQ, Douyin), or is checked only when it has one
 * (Kuaishou: none documented).
 */
export type WatermarkRule = 'required' | 'if_present'

/** openid, open_id, unionid: URL-safe ids; the columns hold 128. Anything else is not an id the platform issued. */
const PLATFORM_ID = /^[A-Za-z0-9_-]{1,128}$/
const PHONE_NUMBER = /^\+?[0-9][0-9 -]{0,30}$/
const DIGITS = /^\+?[0-9]{1,20}$/

/** A field the platform left out (an empty string is how some say so). */
export const absent = (value: unknown): boolean => value === undefined || value === ''

/**
 * The identity a login answer names, every field checked for the shape the
 * platform gives it: an empty or odd subject would be one account shared by
 * everyone the platform (or whatever answers) says it for.
 */
export function identityOf (
  subjectKind: SubjectKind, fields: { subject: unknown, sessionKey: unknown, unionid: unknown }
): PlatformIdentity {
  const { subject, sessionKey, unionid } = fields
  if (typeof subject !== 'string' || !PLATFORM_ID.test(subject)) throw new TransportUnavailable(`answer without a valid ${subjectKind}`)
  if (typeof sessionKey !== 'string' || decodeBase64(sessionKey)?.length !== 16) throw new TransportUnavailable('answer without a valid session_key')
  if (!absent(unionid) && (typeof unionid !== 'string' || !PLATFORM_ID.test(unionid))) throw new TransportUnavailable('answer with an invalid unionid')
  return { subject, subjectKind, sessionKey, ...(absent(unionid) ? {} : { unionid: unionid as string }) }
}

export abstract class SessionKeyAdapter<P extends Platform> {
  abstract readonly platform: P
  abstract readonly subjectKind: SubjectKind
  protected abstract readonly watermark: WatermarkRule
  protected readonly transport: Transport

  constructor (options: AdapterOptions) {
    this.transport = new Transport({
      ...options,
      // Labels from a bounded set: a lying platform cannot mint metric series.
      outcomeOf: (error) => error instanceof PlatformRefusal ? `refused_${error.kind}` : 'error',
      retryIf: (error) => error instanceof PlatformRefusal && error.kind === 'upstream_busy'
    })
  }

  /** One login code for the identity the platform's server names. Codes are single use: a replay is `code_invalid`. */
  abstract exchange (app: SecretApp<P>, code: string): Promise<PlatformIdentity>

  /** The client's sealed data opened with the user's session_key; DecryptFailure otherwise. */
  decrypt (app: SecretApp<P>, sessionKey: string, sealed: Sealed): Record<string, unknown> {
    this.check(app)
    if (this.watermark === 'required') return openWatermarked(sessionKey, sealed, app.appid)
    const data = openSealed(sessionKey, sealed)
    if (data.watermark !== undefined && watermarkOf(data)?.appid !== app.appid) throw new DecryptFailure('wrong_app', 'watermark.appid is another app')
    return data
  }

  async close (): Promise<void> {
    await this.transport.close()
  }

  /** The phone in data sealed by the platform's getPhoneNumber button. */
  protected phoneOf (data: Record<string, unknown>): PlatformPhone {
    const { phoneNumber, purePhoneNumber, countryCode } = data
    if (typeof phoneNumber !== 'string' || !PHONE_NUMBER.test(phoneNumber) || typeof countryCode !== 'string' || !DIGITS.test(countryCode) ||
        (purePhoneNumber !== undefined && (typeof purePhoneNumber !== 'string' || !DIGITS.test(purePhoneNumber)))) {
      // It took the key to get here: undecryptable, like any tampering, or a client steering the IV would learn the JSON held.
      throw new DecryptFailure('undecryptable', 'not phone data')
    }
    return { phoneNumber, countryCode, ...(purePhoneNumber !== undefined ? { purePhoneNumber: purePhoneNumber as string } : {}) }
  }

  protected refusal (kinds: ReadonlyMap<number, RefusalKind>, code: number): PlatformRefusal {
    return new PlatformRefusal(this.platform, kinds.get(code) ?? 'other', String(code))
  }

  /** The origin to call: the app's apiBase when it has one, else the platform's own host. */
  protected origin (app: SecretApp<P>, host: string): string {
    return app.apiBase ?? host
  }

  protected check (app: SecretApp): void {
    // A wiring mistake, not input: another platform's app must never reach this one's API with its secret.
    if (app.platform !== this.platform) throw new Error(`a ${app.platform} app given to the ${this.platform} adapter`)
  }
}
