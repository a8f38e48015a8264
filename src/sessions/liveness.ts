import { SessionExpired, SessionRevoked, UserDisabled, type ErrorContext } from '../errors.js'

// The rule of a usable user and a live session, written once: every statement
// that reads it embeds these fragments, every check turns the columns they
// yield into an error through assertUsable or assertLive. Here, under
// sessions/, because users/ builds on sessions/ (a login opens one) and the
// rule reads both tables.
//
// A user is usable until banned: users.disabled_at set, in Studio or SQL. A
// session is live while its user is usable, it is not revoked, and it is not
// past SESSION_MAX_AGE.
//
// The one other place that knows the rule is the trigger users_ban_ends_sessions
// (prisma/migrations/20261122030000_ban_ends_sessions): a ban ends every session
// of the user the moment disabled_at goes from NULL to set, so lifting it
// revives none. A trigger cannot embed these fragments, and a SQL function
// shared with the statements would not make it the only place: the trigger
// still names its column (AFTER UPDATE OF disabled_at), and re-creating it
// would lock the users table at deploy. So it stays, and
// test/sessions/liveness.test.ts fails when the two disagree.
//
// Locks are the caller's: a check that must order against a ban (a login, a
// unionid link) reads these columns from the user row it locked (FOR SHARE or
// FOR UPDATE), so a concurrent ban either waits for it or is seen by it.

/** True when the user row `u` is banned. */
const userBanned = (u: string): string => `${u}.disabled_at IS NOT NULL`
/** True when the user of session row `s` is banned; reads the user row without locking it. */
const ownerBanned = (s: string): string => `EXISTS (SELECT 1 FROM users du WHERE du.id = ${s}.user_id AND ${userBanned('du')})`
const sessionRevoked = (s: string): string => `${s}.revoked_at IS NOT NULL`
const sessionExpired = (s: string): string => `${s}.expires_at <= now()`

/** The column a read of the user row `u` selects to tell a usable user from a banned one. */
export const userState = (u: string): string => `${userBanned(u)} AS user_disabled`
export const USER_STATE_COLUMNS = { user_disabled: 'boolean' } as const

/** The columns a read of the session row `s` selects to tell a live session from an ended one. */
export const sessionState = (s: string): string =>
  `${sessionRevoked(s)} AS session_revoked, ${sessionExpired(s)} AS session_expired, ${ownerBanned(s)} AS user_disabled`
export const SESSION_STATE_COLUMNS = { session_revoked: 'boolean', session_expired: 'boolean', ...USER_STATE_COLUMNS } as const

/** The condition that session row `s` is live, for a statement that writes only a live session. */
export const sessionLive = (s: string): string =>
  `NOT (${sessionRevoked(s)}) AND NOT (${sessionExpired(s)}) AND NOT ${ownerBanned(s)}`

export interface UserState {
  user_disabled: boolean
}

export interface SessionState extends UserState {
  session_revoked: boolean
  session_expired: boolean
}

/** 403 USER_DISABLED for a banned user; `context` (who it was about, for the audit trail) rides on the error. */
export function assertUsable (state: UserState | undefined, context?: ErrorContext): void {
  if (state?.user_disabled === true) throw new UserDisabled(context)
}

/**
 * A banned user is a 403 (logging in again will not help); a session revoked,
 * unknown or past SESSION_MAX_AGE a 401 the client acts on by logging in.
 */
export function assertLive (state: SessionState | undefined): void {
  if (state === undefined) throw new SessionRevoked()
  assertUsable(state)
  if (state.session_revoked) throw new SessionRevoked()
  if (state.session_expired) throw new SessionExpired()
}

/** Neither revoked nor aged out: only its user's ban, if anything, keeps the session from being live. */
export const sessionOpen = (state: SessionState): boolean => !state.session_revoked && !state.session_expired
