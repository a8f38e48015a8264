import type { Test } from 'tap'
import type { FakePlatformApp, FakeSessionKeyPlatform } from '../../src/dev/fake-session-key-platform.js'
import { DecryptFailure, type Platform, type RefusalKind } from '../../src/platforms/adapter.js'
import type { Sealed } from '../../src/platforms/aes-cbc.js'
import type { AdapterOptions, PlatformPhone, SecretApp, SessionKeyAdapter } from '../../src/platforms/session-key-adapter.js'
import { TransportTimeout, TransportUnavailable } from '../../src/platforms/transport.js'

// The cases every session-key platform (QQ, Douyin, Kuaishou) must pass
// against its fake over real HTTP; each test file adds its platform's own.

export interface PlatformCase<P extends Platform, F extends FakeSessionKeyPlatform, A extends SessionKeyAdapter<P> = SessionKeyAdapter<P>> {
  platform: P
  fake: (apps: FakePlatformApp[]) => F
  adapter: (options: AdapterOptions) => A
  /** Error codes the platform sends, and what the adapter must read them as. */
  refusals: Array<[number, RefusalKind]>
  /** The platform's "busy" code, when it has one (retried). */
  busy?: number
  /** A success body in the platform's envelope, with these fields (a lying platform's answer). */
  success: (fields: { subject?: unknown, sessionKey?: unknown, unionid?: unknown }) => unknown
  /** Whether the app is bound (union ids) unless told otherwise. */
  boundByDefault: boolean
}

/** An adapter with the getPhoneNumber capability. */
export interface PhoneAdapter<P extends Platform> {
  phone: (app: SecretApp<P>, sessionKey: string, sealed: Sealed) => PlatformPhone
}

export interface Setup<P extends Platform, F, A> {
  fake: F
  adapter: A
  app: SecretApp<P>
  other: SecretApp<P>
  observed: string[]
}

export async function setup<P extends Platform, F extends FakeSessionKeyPlatform, A extends SessionKeyAdapter<P>> (
  t: Test, spec: PlatformCase<P, F, A>, timeoutMs = 1000
): Promise<Setup<P, F, A>> {
  const apps = [{ appid: `${spec.platform}-app`, secret: 'secret-1' }, { appid: `${spec.platform}-other`, secret: 'secret-2' }]
  const fake = spec.fake(apps)
  const apiBase = await fake.listen()
  const observed: string[] = []
  const adapter = spec.adapter({ timeoutMs, busyBackoffMs: 5, observe: (api, outcome) => observed.push(`${api} ${outcome}`) })
  t.teardown(async () => { await adapter.close(); await fake.close() })
  const [app, other] = apps.map((a) => ({ platform: spec.platform, ...a, apiBase }))
  return { fake, adapter, app: app!, other: other!, observed }
}

async function failure (promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => { throw new Error('resolved') }, (error: unknown) => error)
}

function decryptFailure (open: () => unknown): DecryptFailure {
  try { open() } catch (error) { if (error instanceof DecryptFailure) return error; throw error }
  throw new Error('opened')
}

export function sessionKeyPlatformCases<P extends Platform, F extends FakeSessionKeyPlatform, A extends SessionKeyAdapter<P>> (
  t: Test, spec: PlatformCase<P, F, A>
): void {
  const refused = (kind: RefusalKind) => ({ name: 'PlatformRefusal', platform: spec.platform, kind })

  t.test('exchange: the subject, session_key and union id the platform issued', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    const { code } = fake.login(app.appid, 'alice')
    const identity = await adapter.exchange(app, code)
    t.same(identity, {
      subject: fake.openid(app.appid, 'alice'),
      subjectKind: adapter.subjectKind,
      sessionKey: fake.sessionKey(app.appid, 'alice'),
      ...(spec.boundByDefault ? { unionid: fake.unionid('alice') } : {})
    })
    fake.bind(app.appid)
    t.equal((await adapter.exchange(app, fake.login(app.appid, 'alice').code)).unionid, fake.unionid('alice'), 'union id once bound')
  })

  t.test('one code buys one identity: a replayed, unknown or other app\'s code is code_invalid', async (t) => {
    const { fake, adapter, app, other, observed } = await setup(t, spec)
    const { code } = fake.login(app.appid, 'bob')
    await adapter.exchange(app, code)
    await t.rejects(adapter.exchange(app, code), refused('code_invalid'), 'replayed')
    await t.rejects(adapter.exchange(app, 'never-issued'), refused('code_invalid'), 'unknown')
    await t.rejects(adapter.exchange(other, fake.login(app.appid, 'bob').code), refused('code_invalid'), 'issued to another app')
    t.same(observed.slice(1).map((line) => line.split(' ')[1]), Array(3).fill('refused_code_invalid'), 'bounded metric labels')
  })

  t.test('a wrong secret or unknown app is bad_credentials', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    await t.rejects(adapter.exchange({ ...app, secret: 'wrong' }, fake.login(app.appid, 'carol').code), refused('bad_credentials'))
    await t.rejects(adapter.exchange({ ...app, appid: 'unknown-app' }, 'x'), refused('bad_credentials'))
  })

  t.test('each error code maps onto its RefusalKind; an unknown one is other, kept for the log', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    for (const [code, kind] of [...spec.refusals, [987654, 'other'] as [number, RefusalKind]]) {
      fake.setFault({ errcode: code, times: spec.busy === code ? 3 : 1 })
      const error = await failure(adapter.exchange(app, 'x'))
      t.match(error, { ...refused(kind), upstream: String(code) }, `${code} -> ${kind}`)
      fake.setFault(undefined)
    }
  })

  if (spec.busy !== undefined) {
    const busy = spec.busy
    t.test('busy is retried, a bounded number of times; nothing else is', async (t) => {
      const { fake, adapter, app } = await setup(t, spec)
      const path = () => [...fake.calls.keys()][0]!
      fake.setFault({ errcode: busy, times: 2 })
      const { code } = fake.login(app.appid, 'dan')
      t.equal((await adapter.exchange(app, code)).subject, fake.openid(app.appid, 'dan'), 'third attempt succeeds')
      t.equal(fake.callCount(path()), 3)
      fake.setFault({ errcode: busy })
      await t.rejects(adapter.exchange(app, 'x'), refused('upstream_busy'))
      t.equal(fake.callCount(path()), 6, 'gave up after 3 attempts')
      fake.setFault(undefined)
      await t.rejects(adapter.exchange(app, 'x'), refused('code_invalid'))
      t.equal(fake.callCount(path()), 7, 'a refusal is not retried')
    })
  }

  t.test('faults: gateway status, malformed body and reset are unavailable; slowness is a timeout at the deadline', async (t) => {
    const { fake, adapter, app, observed } = await setup(t, spec, 300)
    for (const fault of [{ status: 502 }, { malformed: true }, { reset: true }, { body: [1] }, { body: null }]) {
      fake.setFault(fault)
      t.ok(await failure(adapter.exchange(app, 'x')) instanceof TransportUnavailable, JSON.stringify(fault))
    }
    fake.setFault({ delayMs: 1000 })
    const started = Date.now()
    t.ok(await failure(adapter.exchange(app, 'x')) instanceof TransportTimeout)
    t.ok(Date.now() - started < 900, 'gave up at the deadline')
    t.same(observed.map((line) => line.split(' ')[1]), [...Array(5).fill('unavailable'), 'timeout'])
  })

  t.test('attack: a lying answer (empty or odd subject, no session_key, a non-string union id) never becomes an identity', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    const good = { subject: fake.openid(app.appid, 'eve'), sessionKey: Buffer.alloc(16, 1).toString('base64'), unionid: 'u1' }
    const lies: Array<[string, Record<string, unknown>]> = [
      ['empty subject', { ...good, subject: '' }],
      ['missing subject', { ...good, subject: undefined }],
      ['subject with a separator', { ...good, subject: 'a/b' }],
      ['subject not a string', { ...good, subject: 12345 }],
      ['overlong subject', { ...good, subject: 'o'.repeat(129) }],
      ['missing session_key', { ...good, sessionKey: undefined }],
      ['session_key of 15 bytes', { ...good, sessionKey: Buffer.alloc(15).toString('base64') }],
      ['union id a number', { ...good, unionid: 42 }],
      ['union id an object', { ...good, unionid: { id: 'u1' } }],
      ['union id with spaces', { ...good, unionid: 'u 1' }]
    ]
    for (const [name, fields] of lies) {
      fake.setFault({ body: spec.success(fields) })
      t.ok(await failure(adapter.exchange(app, 'x')) instanceof TransportUnavailable, name)
    }
    fake.setFault({ body: spec.success(good) })
    t.match(await adapter.exchange(app, 'x'), { subject: good.subject, unionid: 'u1' }, 'the same envelope, told the truth, is accepted')
  })

  t.test('decrypt: a round trip of the client\'s sealed data; rawData signatures check out', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    await adapter.exchange(app, fake.login(app.appid, 'fay').code)
    const sessionKey = fake.sessionKey(app.appid, 'fay')!
    const info = fake.userInfo(app.appid, 'fay', { nickName: '🐼 熊猫' })
    t.match(adapter.decrypt(app, sessionKey, info), { nickName: '🐼 熊猫', openId: fake.openid(app.appid, 'fay') })
    t.equal(decryptFailure(() => adapter.decrypt(app, sessionKey, { ...info, iv: 'AAAA' })).kind, 'malformed')
  })

  t.test('attack: a tampered ciphertext fails exactly like a wrong key (no padding oracle)', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    fake.login(app.appid, 'gus')
    const sessionKey = fake.sessionKey(app.appid, 'gus')!
    const sealed = fake.userInfo(app.appid, 'gus', { nickName: 'g'.repeat(40) })
    const bytes = Buffer.from(sealed.encryptedData, 'base64')
    const flipped = (index: number) => { const copy = Buffer.from(bytes); copy[index]! ^= 0x20; return { ...sealed, encryptedData: copy.toString('base64') } }
    const answers = [
      decryptFailure(() => adapter.decrypt(app, Buffer.alloc(16, 7).toString('base64'), sealed)),
      decryptFailure(() => adapter.decrypt(app, sessionKey, flipped(bytes.length - 17))),
      decryptFailure(() => adapter.decrypt(app, sessionKey, flipped(bytes.length - 1))),
      decryptFailure(() => adapter.decrypt(app, sessionKey, flipped(0)))
    ].map(({ kind, message }) => `${kind} ${message}`)
    t.same(new Set(answers).size, 1, answers.join(' | '))
    t.match(answers[0], /^undecryptable /)
  })

  t.test('attack: blocks appended after the sealed JSON answer alike whatever their padding (no padding oracle)', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    fake.login(app.appid, 'ida')
    const sessionKey = fake.sessionKey(app.appid, 'ida')!
    const sealed = fake.userInfo(app.appid, 'ida', { nickName: 'i' })
    const bytes = Buffer.from(sealed.encryptedData, 'base64')
    // C || X || C[1]: only the last block's padding depends on X[15]; what follows the JSON must fail alike (Baidu's did not).
    const answers = new Set<string>()
    for (let guess = 0; guess < 256; guess++) {
      const x = Buffer.alloc(16)
      x[15] = guess
      const { kind, message } = decryptFailure(() => adapter.decrypt(app, sessionKey, { ...sealed, encryptedData: Buffer.concat([bytes, x, bytes.subarray(16, 32)]).toString('base64') }))
      answers.add(`${kind} ${message}`)
    }
    t.same([...answers], ['undecryptable decrypt failed: undecryptable (illegal_buffer)'])
  })

  t.test('data sealed for another appid is wrong_app', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    fake.login(app.appid, 'hal')
    const sealed = fake.userInfo(app.appid, 'hal', { nickName: 'h' }, { watermarkAppid: `${spec.platform}-other` })
    t.equal(decryptFailure(() => adapter.decrypt(app, fake.sessionKey(app.appid, 'hal')!, sealed)).kind, 'wrong_app')
  })

  t.test('an app of another platform is refused before any call', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    const wrong = { ...app, platform: spec.platform === 'qq' ? 'douyin' : 'qq' } as unknown as SecretApp<P>
    await t.rejects(adapter.exchange(wrong, fake.login(app.appid, 'ian').code), /given to the/)
    t.equal(fake.calls.size, 0)
  })
}

/** What a platform with a getPhoneNumber button (Douyin, Kuaishou) must pass besides the common cases. */
export function phoneCases<P extends Platform, F extends FakeSessionKeyPlatform, A extends SessionKeyAdapter<P> & PhoneAdapter<P>> (
  t: Test, spec: PlatformCase<P, F, A>
): void {
  t.test('attack: a steered IV that keeps the JSON valid fails like one that breaks it (no format oracle)', async (t) => {
    const { fake, adapter, app } = await setup(t, spec)
    await adapter.exchange(app, fake.login(app.appid, 'oz').code)
    const key = fake.sessionKey(app.appid, 'oz')!
    const sealed = fake.phoneData(app.appid, 'oz', { phoneNumber: '13800138000', countryCode: '86' })
    // The IV XORs straight into the first 16 plaintext bytes, {"phoneNumber":" (no MAC notices).
    const steer = (index: number, from: string, to: string): Sealed => {
      const iv = Buffer.from(sealed.iv, 'base64')
      iv[index]! ^= from.charCodeAt(0) ^ to.charCodeAt(0)
      return { ...sealed, iv: iv.toString('base64') }
    }
    const answers = [
      decryptFailure(() => adapter.phone(app, key, steer(12, 'r', 'X'))), // {"phoneNumbeX":"...: valid JSON, no phoneNumber
      decryptFailure(() => adapter.phone(app, key, steer(14, ':', ';'))), // not JSON
      decryptFailure(() => adapter.phone(app, Buffer.alloc(16, 7).toString('base64'), sealed)) // the wrong key
    ].map(({ name, kind }) => `${name} ${kind}`)
    // Only the kind reaches a client; the detail is a fixed phrase for the log.
    t.same(answers, Array(3).fill('DecryptFailure undecryptable'))
    t.same(adapter.phone(app, key, sealed), { phoneNumber: '13800138000', countryCode: '86' }, 'untouched, it opens')
  })
}
