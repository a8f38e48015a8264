// The contract every mini-program platform's adapter meets (issue 21). An
// adapter speaks one platform's server API and crypto and nothing else: it
// knows no route, table or error code of the service. The service maps its
// answers (PlatformRefusal kinds, transport failures) onto its own codes.

import type { Platform } from '../config/apps.js'

// The list is configuration's (APPS names a platform per app); config imports nothing, so it is defined there.
export { PLATFORMS, type Platform } from '../config/apps.js'

/** What names the subject: per app (openid), per developer (Kuaishou open_id), global (Alipay user_id). */
export type SubjectKind = 'openid' | 'open_id' | 'user_id'

export const SUBJECT_KINDS: readonly SubjectKind[] = ['openid', 'open_id', 'user_id']

/**
 * Who the platform's server says logged in. Everything here came from the
 * platform over TLS; nothing the client relayed (decrypted data) ever is.
 */
export interface PlatformIdentity {
  subject: string
  subjectKind: SubjectKind
  /** A union id, only from a server answer; its scope is the platform (never joined across platforms). */
  unionid?: string
  /** Base64 session key, where the platform has one (not Alipay). */
  sessionKey?: string
}

/**
 * How the service reads a platform's refusal; every adapter maps its own
 * error envelope onto these (PLATFORMS.md D6).
 * - code_invalid: the login (or phone) code is wrong, expired or already used;
 * - code_anonymous: a Douyin anonymousCode, refused by default;
 * - user_blocked: the platform refuses this user;
 * - bad_credentials: the app's id, secret or keys are rejected;
 * - rate_limited: too many calls; upstream_busy: retryable;
 * - other: anything else (its raw code kept for the log).
 */
export type RefusalKind = 'code_invalid' | 'code_anonymous' | 'user_blocked' | 'bad_credentials' | 'rate_limited' | 'upstream_busy' | 'other'

/** The platform answered, and said no. `upstream` is its own code (errcode, err_no, error, sub_code...), for logs only. */
export class PlatformRefusal extends Error {
  override name = 'PlatformRefusal'
  constructor (readonly platform: Platform, readonly kind: RefusalKind, readonly upstream: string) {
    super(`${platform} refused: ${kind} (${upstream})`)
  }
}

/** Failures of decryption; one answer to the client for all of them, so there is no padding oracle. */
export type DecryptFailureKind = 'malformed' | 'undecryptable' | 'wrong_app'

/** Decryption failed. `kind` is all a client may learn; `detail` is a fixed phrase for the log. */
export class DecryptFailure extends Error {
  override name = 'DecryptFailure'
  constructor (readonly kind: DecryptFailureKind, readonly detail: string) {
    super(`decrypt failed: ${kind} (${detail})`)
  }
}
