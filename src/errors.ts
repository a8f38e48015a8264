// Every error a route answers with: one class per failure a client can act on.
// `code`, the HTTP status, the message and the headers are the API contract
// (docs/api.md lists them). This module imports nothing of the service: the
// WeChat errcodes a failure comes from are read in src/wechat/refusal.ts and
// beside the services that give them a meaning.

/** Who an answer was about, for the audit trail. */
export interface Subject { userId?: string, sessionId?: string, appid?: string }

/** What a thrower knows beyond the failure itself. */
export interface ErrorContext {
  /** Who the failure was about (the audit trail records it). */
  subject?: Subject
  /** The reason of the session this failure ended, when it ended one (recorded as its own event). */
  revoked?: string
  /** What the log may be told and the client never (an upstream errcode, why each key failed). */
  detail?: Readonly<Record<string, unknown>>
}

export abstract class ServiceError extends Error {
  readonly detail?: Readonly<Record<string, unknown>>
  /** Set by the thrower, or by `about` when only its caller knows. */
  subject?: Subject
  revoked?: string

  protected constructor (
    readonly statusCode: number,
    readonly code: string,
    message: string,
    context: ErrorContext = {},
    readonly headers?: Readonly<Record<string, string>>
  ) {
    super(message)
    this.name = new.target.name
    this.detail = context.detail
    this.subject = context.subject
    this.revoked = context.revoked
  }

  /** Names who the failure was about (and the session it ended), when the code that threw it could not know. */
  about (subject: Subject, revoked?: string): this {
    this.subject = subject
    if (revoked !== undefined) this.revoked = revoked
    return this
  }
}

const retryAfter = (seconds: number): Record<string, string> => ({ 'retry-after': String(seconds) })

// The service itself.
export class DatabaseUnavailable extends ServiceError {
  constructor () { super(503, 'DATABASE_UNAVAILABLE', 'the database is unreachable; try again shortly') }
}
export class NotFound extends ServiceError {
  constructor (route: string) { super(404, 'NOT_FOUND', `route ${route} not found`) }
}
export class RateLimited extends ServiceError {
  constructor (seconds: number) { super(429, 'RATE_LIMITED', `rate limit exceeded: retry in ${seconds} s`, {}, retryAfter(seconds)) }
}
export class AppRequired extends ServiceError {
  constructor () { super(400, 'APP_REQUIRED', 'several mini-programs are configured: send appid') }
}
export class AppUnknown extends ServiceError {
  constructor (appid: string) { super(400, 'APP_UNKNOWN', `appid ${appid} is not configured on this service`) }
}

// WeChat refused, in a way every route reads alike (src/wechat/refusal.ts).
export const RETRY_AFTER_WECHAT_RATE_LIMITED_SECONDS = 60
export class WechatBusy extends ServiceError {
  constructor (context?: ErrorContext) { super(503, 'WECHAT_BUSY', 'WeChat is busy: retry shortly', context) }
}
export class WechatRateLimited extends ServiceError {
  constructor (context?: ErrorContext) {
    super(429, 'WECHAT_RATE_LIMITED', 'too many calls for this user at WeChat: retry in a minute', context, retryAfter(RETRY_AFTER_WECHAT_RATE_LIMITED_SECONDS))
  }
}
export class WechatConfigInvalid extends ServiceError {
  constructor (context?: ErrorContext) { super(500, 'WECHAT_CONFIG_INVALID', 'the service is misconfigured for WeChat (AppID or AppSecret rejected)', context) }
}
export class WechatError extends ServiceError {
  constructor (errcode: number, context?: ErrorContext) { super(502, 'WECHAT_ERROR', `WeChat refused the request (errcode ${errcode})`, context) }
}

// WeChat could not be asked (the WeChat client's transport failures).
export const RETRY_AFTER_WECHAT_OVERLOADED_SECONDS = 5
export class WechatUnavailable extends ServiceError {
  constructor () { super(502, 'WECHAT_UNAVAILABLE', 'WeChat could not be reached or answered unexpectedly: retry shortly') }
}
export class WechatTimeout extends ServiceError {
  constructor () { super(504, 'WECHAT_TIMEOUT', 'WeChat did not answer in time: retry shortly') }
}
export class WechatOverloaded extends ServiceError {
  constructor () {
    super(503, 'WECHAT_OVERLOADED', 'too many requests are waiting on WeChat: retry in a few seconds', {}, retryAfter(RETRY_AFTER_WECHAT_OVERLOADED_SECONDS))
  }
}

// What a login code's refusal at WeChat means to the client.
export class WechatCodeInvalid extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'WECHAT_CODE_INVALID', 'code invalid or expired: call wx.login again', context) }
}
export class WechatCodeUsed extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'WECHAT_CODE_USED', 'code already used: call wx.login again', context) }
}
export class WechatUserBlocked extends ServiceError {
  constructor (context?: ErrorContext) { super(403, 'WECHAT_USER_BLOCKED', 'WeChat refused this user (risk control)', context) }
}

// Another platform (QQ, Douyin, Kuaishou, Baidu, Alipay) refused a login, or
// could not be asked (src/auth/platform-refusal.ts maps adapters' answers
// here). `platform` is its display name; no message quotes the code or a secret.
export const RETRY_AFTER_PLATFORM_RATE_LIMITED_SECONDS = 60
export class PlatformCodeInvalid extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(401, 'PLATFORM_CODE_INVALID', `${platform} says the code is invalid, expired or used: log in on the mini-program again`, context) }
}
export class PlatformCodeUsed extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(401, 'PLATFORM_CODE_USED', `the ${platform} code was already used: log in on the mini-program again`, context) }
}
export class PlatformCodeAnonymous extends ServiceError {
  constructor (platform: string, context?: ErrorContext) {
    super(400, 'PLATFORM_CODE_ANONYMOUS', `an anonymous ${platform} code names a device, not a user: log the user in on ${platform} and send that code`, context)
  }
}
export class PlatformUserBlocked extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(403, 'PLATFORM_USER_BLOCKED', `${platform} refused this user`, context) }
}
export class PlatformConfigInvalid extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(500, 'PLATFORM_CONFIG_INVALID', `the service is misconfigured for ${platform} (its app id, secret or keys rejected)`, context) }
}
export class PlatformRateLimited extends ServiceError {
  constructor (platform: string, context?: ErrorContext) {
    super(429, 'PLATFORM_RATE_LIMITED', `too many calls at ${platform}: retry in a minute`, context, retryAfter(RETRY_AFTER_PLATFORM_RATE_LIMITED_SECONDS))
  }
}
export class PlatformBusy extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(503, 'PLATFORM_BUSY', `${platform} is busy: retry shortly`, context) }
}
export class PlatformError extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(502, 'PLATFORM_ERROR', `${platform} refused the request`, context) }
}
export class PlatformUnavailable extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(502, 'PLATFORM_UNAVAILABLE', `${platform} could not be reached or answered unexpectedly: retry shortly`, context) }
}
export class PlatformTimeout extends ServiceError {
  constructor (platform: string, context?: ErrorContext) { super(504, 'PLATFORM_TIMEOUT', `${platform} did not answer in time: retry shortly`, context) }
}
export class PlatformOverloaded extends ServiceError {
  constructor (platform: string, retryAfterSeconds: number, context?: ErrorContext) {
    super(503, 'PLATFORM_OVERLOADED', `too many requests are waiting on ${platform}: retry in a few seconds`, context, retryAfter(retryAfterSeconds))
  }
}

// The access token: 401s a client can act on, each says what to do next.
export class AuthTokenMissing extends ServiceError {
  constructor () { super(401, 'AUTH_TOKEN_MISSING', 'no access token: send Authorization: Bearer <accessToken>') }
}
export class AccessTokenExpired extends ServiceError {
  constructor () { super(401, 'ACCESS_TOKEN_EXPIRED', 'access token expired: refresh it') }
}
export class AccessTokenInvalid extends ServiceError {
  constructor () { super(401, 'ACCESS_TOKEN_INVALID', 'access token invalid: log in again') }
}

// The session and its refresh tokens: 401s a client can act on.
export class SessionRevoked extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'SESSION_REVOKED', 'session ended: log in again', context) }
}
export class SessionExpired extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'SESSION_EXPIRED', 'session reached its maximum age: log in again', context) }
}
export class RefreshTokenInvalid extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'REFRESH_TOKEN_INVALID', 'refresh token unknown: log in again', context) }
}
export class RefreshTokenExpired extends ServiceError {
  constructor (context?: ErrorContext) { super(401, 'REFRESH_TOKEN_EXPIRED', 'refresh token expired: log in again', context) }
}
export class RefreshTokenReused extends ServiceError {
  constructor (context?: ErrorContext) {
    super(401, 'REFRESH_TOKEN_REUSED', 'refresh token was already used: the session is ended for safety, log in again', context)
  }
}
// 403: the person is banned (users.disabled_at set, in Studio or SQL); logging in again will not help.
export class UserDisabled extends ServiceError {
  constructor (context?: ErrorContext) { super(403, 'USER_DISABLED', 'this account is disabled', context) }
}

// The user's data: decrypt, verify, phone.
export class EncryptedDataMalformed extends ServiceError {
  constructor (reason: string) { super(400, 'ENCRYPTED_DATA_MALFORMED', reason) }
}
export class EncryptedDataInvalid extends ServiceError {
  constructor (context?: ErrorContext) {
    super(400, 'ENCRYPTED_DATA_INVALID',
      'encryptedData could not be decrypted with this user\'s session_key: it is corrupt, or was fetched before a later wx.login(); fetch it again', context)
  }
}
export class SessionKeyStale extends ServiceError {
  constructor (context?: ErrorContext) {
    super(401, 'SESSION_KEY_STALE', 'the stored session_key is no longer valid at WeChat: call wx.login(), log in again, then fetch the data again', context)
  }
}
export class SessionKeyAbsent extends ServiceError {
  constructor () { super(400, 'SESSION_KEY_ABSENT', 'this session\'s platform has no session_key (Alipay): there is nothing to decrypt or verify with it') }
}
export class SessionKeyUnreadable extends ServiceError {
  constructor (context?: ErrorContext) {
    super(401, 'SESSION_KEY_UNREADABLE',
      'the stored session_key cannot be read (its encryption key is no longer configured): call wx.login(), log in again, then fetch the data again', context)
  }
}
/** A route's body is a scheme the session's platform does not have (Baidu has no rawData signature, QQ no phone number...). */
export class SchemeUnsupported extends ServiceError {
  constructor (platform: string, scheme: string, instead: string) { super(400, 'SCHEME_UNSUPPORTED', `${platform} has no ${scheme}: ${instead}`) }
}
export class WatermarkAppidMismatch extends ServiceError {
  constructor () { super(400, 'WATERMARK_APPID_MISMATCH', 'the data was not produced for this mini-program (watermark.appid differs)') }
}
export class WatermarkExpired extends ServiceError {
  constructor (maxAgeSeconds: number) { super(400, 'WATERMARK_EXPIRED', `the data is older than ${maxAgeSeconds} seconds: fetch it again`) }
}
export class SignatureInvalid extends ServiceError {
  constructor () { super(400, 'SIGNATURE_INVALID', 'signature does not match rawData and the session_key') }
}
export class RawDataInvalid extends ServiceError {
  constructor () { super(400, 'RAW_DATA_INVALID', 'rawData must be a JSON object') }
}
export class PhoneCodeInvalid extends ServiceError {
  constructor (context?: ErrorContext) {
    super(400, 'PHONE_CODE_INVALID', 'phone code invalid, expired or used: get a new one from the getPhoneNumber button (a wx.login code does not work here)', context)
  }
}
