import { createCipheriv } from 'node:crypto'
import t, { type Test } from 'tap'
import { FakeBaidu } from '../../src/dev/fake-baidu.js'
import { DecryptFailure, PlatformRefusal } from '../../src/platforms/adapter.js'
import { BaiduAdapter, isBaiduBusy, type BaiduApp } from '../../src/platforms/baidu.js'
import { decryptBaiduData, sealBaiduData } from '../../src/platforms/baidu-crypto.js'
import { Transport, TransportTimeout, TransportUnavailable } from '../../src/platforms/transport.js'

// Baidu's own PHP sample (PLATFORMS.md 3.5): AES-192, a 24-byte session key, padding of 28 bytes.
const VECTOR = {
  appKey: 'y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7',
  sessionKey: '1df09d0a1677dd72b8325aec59576e0c',
  iv: '1df09d0a1677dd72b8325Q==',
  encryptedData: 'OpCoJgs7RrVgaMNDixIvaCIyV2SFDBNLivgkVqtzq2GC10egsn+PKmQ/+5q+chT8xzldLUog2haTItyIkKyvzvmXonBQLIMeq54axAu9c3KG8IhpFD6+ymHocmx07ZKi7eED3t0KyIxJgRNSDkFk5RV1ZP2mSWa7ZgCXXcAbP0RsiUcvhcJfrSwlpsm0E1YJzKpYy429xrEEGvK+gfL+Cw=='
}
const VECTOR_PLAINTEXT = { openid: 'open_id', nickname: 'baidu_user', headimgurl: 'url of image', sex: 1 }

const failure = (kind: string, detail?: string) => ({ name: 'DecryptFailure', kind, ...(detail === undefined ? {} : { detail }) })
const anotherApp = failure('undecryptable', 'trailing app key is another app')

t.test("Baidu's official vector decrypts to its documented plaintext", async (t) => {
  t.same(decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey), VECTOR_PLAINTEXT)
})

t.test('sealing with the vector\'s own prefix and iv reproduces the official ciphertext', async (t) => {
  const sealed = sealBaiduData(VECTOR.sessionKey, VECTOR.appKey, JSON.stringify(VECTOR_PLAINTEXT), {
    iv: Buffer.from(VECTOR.iv, 'base64'),
    prefix: Buffer.from('5d0aa9913c63765d', 'ascii')
  })
  t.equal(sealed.encryptedData, VECTOR.encryptedData)
})

t.test('round trip at every padding length, 4-byte UTF-8 included', async (t) => {
  const key = Buffer.alloc(24, 3).toString('base64')
  // 32 consecutive content lengths cover every pad length 1..32, a whole pad block included.
  for (let extra = 0; extra < 32; extra++) {
    const payload = { mobile: '13800138000', note: 'x'.repeat(extra) }
    const sealed = sealBaiduData(key, 'appkey-1', payload)
    t.same(decryptBaiduData(key, sealed.encryptedData, sealed.iv, 'appkey-1'), payload, `${extra} extra bytes`)
  }
  const payload = { nickname: '🐼 熊猫 👩‍💻' }
  const sealed = sealBaiduData(key, 'appkey-1', payload)
  t.same(decryptBaiduData(key, sealed.encryptedData, sealed.iv, 'appkey-1'), payload)
})

t.test('data sealed for another app is refused, as undecryptable (the log says why)', async (t) => {
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, 'another-app-key'), anotherApp)
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey.slice(0, -1)), anotherApp, 'a prefix of the app key')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, ''), anotherApp, 'an empty app key')
  const key = Buffer.alloc(24, 9).toString('base64')
  const sealed = sealBaiduData(key, `${VECTOR.appKey}x`, { openid: 'o' })
  t.throws(() => decryptBaiduData(key, sealed.encryptedData, sealed.iv, VECTOR.appKey), anotherApp, 'the app key followed by more')
})

t.test('attack: tampered ciphertext and a wrong key give the same failure', async (t) => {
  const attempt = (sessionKey: string, encryptedData: string): unknown => {
    try {
      return decryptBaiduData(sessionKey, encryptedData, VECTOR.iv, VECTOR.appKey)
    } catch (error) {
      return error
    }
  }
  const wrongKey = attempt(Buffer.alloc(24, 1).toString('base64'), VECTOR.encryptedData)
  t.match(wrongKey, failure('undecryptable'), 'wrong key')
  const kinds = new Set<string>()
  const bytes = Buffer.from(VECTOR.encryptedData, 'base64')
  // Every bit past the first block. A flip in the IV or the first block garbles only the random prefix while
  // steering bits of the next 16 bytes (length and the start of the JSON): Baidu's scheme has no MAC to notice.
  for (let at = 16; at < bytes.length; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const tampered = Buffer.from(bytes)
      tampered[at]! ^= 1 << bit
      const error = attempt(VECTOR.sessionKey, tampered.toString('base64'))
      if (!(error instanceof DecryptFailure)) {
        t.fail(`byte ${at} bit ${bit} gave ${String(error)}`)
        return
      }
      kinds.add(error.kind)
    }
  }
  // No MAC: a flip landing only in the trailing app key (bytes 100-131, steered from the block before) leaves the
  // JSON intact; it is undecryptable like everything that garbles padding, frame or JSON, exactly like a wrong key.
  t.same([...kinds], ['undecryptable'])
  const truncated = bytes.subarray(0, 128).toString('base64')
  t.match(attempt(VECTOR.sessionKey, truncated), failure('undecryptable'), 'truncated by a 32-byte block')
})

t.test('the frame is checked: padding, length, UTF-8 and JSON', async (t) => {
  const key = Buffer.alloc(24, 5)
  const iv = Buffer.alloc(16, 6)
  const open = (plain: Buffer) => {
    const cipher = createCipheriv('aes-192-cbc', key, iv).setAutoPadding(false)
    const data = Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64')
    return () => decryptBaiduData(key.toString('base64'), data, iv.toString('base64'), 'k')
  }
  const frame = (length: number, content: Buffer, pad: Buffer) => {
    const header = Buffer.alloc(20)
    header.writeUInt32BE(length, 16)
    return Buffer.concat([header, content, Buffer.from('k'), pad])
  }
  const padTo32 = (n: number) => 32 - (n % 32)
  const good = (content: Buffer) => frame(content.length, content, Buffer.alloc(padTo32(21 + content.length), padTo32(21 + content.length)))
  t.same(open(good(Buffer.from('{"a":1}')))(), { a: 1 }, 'the helper frames correctly')
  t.throws(open(good(Buffer.from('not json'))), failure('undecryptable'), 'not JSON')
  t.throws(open(good(Buffer.from('[1,2]'))), failure('undecryptable'), 'JSON but not an object')
  t.throws(open(good(Buffer.from([0x7b, 0xff, 0x7d]))), failure('undecryptable'), 'not UTF-8')
  const content = Buffer.from('{"a":1}')
  const pad = Buffer.alloc(padTo32(28), padTo32(28))
  t.throws(open(frame(1000, content, pad)), failure('undecryptable'), 'a length beyond the data')
  t.throws(open(frame(0xffffffff, content, pad)), failure('undecryptable'), 'the largest length')
  const uneven = Buffer.from(pad)
  uneven[0] = 1
  t.throws(open(frame(content.length, content, uneven)), failure('undecryptable'), 'pad bytes that differ')
  t.throws(open(Buffer.concat([frame(content.length, content, Buffer.alloc(0)), Buffer.alloc(4, 0)])), failure('undecryptable'), 'a zero pad byte')
  t.throws(open(Buffer.alloc(64, 33)), failure('undecryptable'), 'a pad byte above 32')
  t.throws(open(Buffer.alloc(16, 16)), failure('undecryptable'), 'nothing but padding')
})

t.test('the shape is checked before any key is used', async (t) => {
  // A stored key of the wrong size is the service's fault, not the client's.
  t.throws(() => decryptBaiduData('short', VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey), failure('undecryptable'), 'not base64')
  t.throws(() => decryptBaiduData(Buffer.alloc(16).toString('base64'), VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey), failure('undecryptable'), 'AES-128 key size')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, 'AAAA', VECTOR.appKey), failure('malformed'), 'short iv')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, 'not base64!', VECTOR.iv, VECTOR.appKey), failure('malformed'))
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, 'AAAA', VECTOR.iv, VECTOR.appKey), failure('malformed'), 'not a whole block')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, '', VECTOR.iv, VECTOR.appKey), failure('malformed'), 'empty')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, Buffer.alloc(32 * 1024).toString('base64'), VECTOR.iv, VECTOR.appKey), failure('malformed'), 'too large')
})

async function setup (t: Test, options: Partial<BaiduApp> = {}) {
  const fake = new FakeBaidu([{ appKey: 'bdKeyOne', secret: 'sk-one' }, { appKey: 'bdKeyTwo', secret: 'sk-two' }])
  await fake.listen()
  const transport = new Transport({ timeoutMs: 300, busyBackoffMs: 5, retryIf: isBaiduBusy })
  t.teardown(async () => { await transport.close(); await fake.close() })
  const app: BaiduApp = { platform: 'baidu', appid: '10001', appKey: 'bdKeyOne', secret: 'sk-one', apiBase: fake.url, ...options }
  return { fake, app, adapter: new BaiduAdapter(transport) }
}

const refused = (kind: string, upstream?: string) => ({ name: 'PlatformRefusal', platform: 'baidu', kind, ...(upstream === undefined ? {} : { upstream }) })

t.test('a login code is exchanged for openid and the 24-byte session key', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const { code, openid } = fake.login('bdKeyOne', 'alice')
  t.same(await adapter.exchange(app, code), { subject: openid, subjectKind: 'openid', sessionKey: fake.sessionKey('bdKeyOne', 'alice') })
  t.equal(fake.callCount('/oauth/jscode2sessionkey'), 1)
  t.equal(fake.callCount('/rest/2.0/smartapp/getunionid'), 0, 'no unionid call unless the app asks')
  const other = fake.login('bdKeyOne', 'bob')
  t.not((await adapter.exchange(app, other.code)).subject, openid, 'another user, another openid')
})

t.test('refusals map onto the service\'s kinds', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const { code } = fake.login('bdKeyOne', 'alice')
  await adapter.exchange(app, code)
  await t.rejects(adapter.exchange(app, code), refused('code_invalid', 'invalid_grant'), 'a replayed code')
  await t.rejects(adapter.exchange(app, fake.login('bdKeyTwo', 'alice').code), refused('code_invalid'), "another app's code")
  await t.rejects(adapter.exchange(app, 'never-issued'), refused('code_invalid'))
  await t.rejects(adapter.exchange({ ...app, secret: 'wrong' }, fake.login('bdKeyOne', 'alice').code), refused('bad_credentials', 'invalid_client'))
  const cases: Array<[error: string, kind: string, upstream: string]> = [
    ['invalid_request', 'other', 'invalid_request'], ['unauthorized_client', 'bad_credentials', 'unauthorized_client'], ['a b<script>', 'other', 'unrecognised']
  ]
  for (const [error, kind, upstream] of cases) {
    fake.refuse(error)
    await t.rejects(adapter.exchange(app, 'x'), refused(kind, upstream), error)
  }
  fake.setFault({ body: { errno: 40001, errmsg: 'x' } })
  await t.rejects(adapter.exchange(app, 'x'), refused('other', 'errno_40001'), 'an errno envelope')
})

t.test('a busy Baidu is retried within the deadline; a lasting one is refused as upstream_busy', async (t) => {
  const { fake, app, adapter } = await setup(t)
  fake.refuse('temporarily_unavailable', { times: 1 })
  const { code, openid } = fake.login('bdKeyOne', 'alice')
  t.equal((await adapter.exchange(app, code)).subject, openid)
  t.equal(fake.callCount('/oauth/jscode2sessionkey'), 2)
  fake.refuse('server_error')
  await t.rejects(adapter.exchange(app, 'x'), refused('upstream_busy'))
  t.equal(fake.callCount('/oauth/jscode2sessionkey'), 5, 'three attempts')
})

t.test('faults: slow, a gateway status, a broken body, a reset connection', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const cases: Array<[object, object]> = [
    [{ delayMs: 600 }, TransportTimeout],
    [{ status: 502 }, TransportUnavailable],
    [{ malformed: true }, TransportUnavailable],
    [{ reset: true }, TransportUnavailable]
  ]
  for (const [fault, error] of cases) {
    fake.setFault(fault)
    await t.rejects(adapter.exchange(app, fake.login('bdKeyOne', 'alice').code), error as never, JSON.stringify(fault))
  }
})

t.test('a lying answer never becomes an identity', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const key = Buffer.alloc(24, 1).toString('base64')
  const lies: object[] = [
    {}, { openid: '', session_key: key }, { openid: 'a b', session_key: key }, { openid: 7, session_key: key }, { openid: 'x'.repeat(129), session_key: key },
    { openid: 'o1' }, { openid: 'o1', session_key: Buffer.alloc(16).toString('base64') }, { openid: 'o1', session_key: 'not base64!' }, { openid: 'o1', session_key: null }
  ]
  for (const body of lies) {
    fake.setFault({ body })
    await t.rejects(adapter.exchange(app, 'x'), { name: 'TransportUnavailable' }, JSON.stringify(body))
  }
})

t.test('the unionid comes from getunionid, with the access token fetched once and renewed when refused', async (t) => {
  const { fake, app, adapter } = await setup(t, { unionid: true })
  const first = await adapter.exchange(app, fake.login('bdKeyOne', 'alice').code)
  t.equal(first.unionid, fake.unionid('alice'))
  const second = await adapter.exchange(app, fake.login('bdKeyOne', 'bob').code)
  t.equal(second.unionid, fake.unionid('bob'))
  t.equal(fake.callCount('/oauth/2.0/token'), 1, 'one token for both')
  fake.invalidateAccessToken('bdKeyOne')
  t.equal((await adapter.exchange(app, fake.login('bdKeyOne', 'alice').code)).unionid, fake.unionid('alice'))
  t.equal(fake.callCount('/oauth/2.0/token'), 2, 'fetched again once refused')
  fake.setFault({ path: '/rest/2.0/smartapp/getunionid', body: { errno: 0, data: { unionid: '' } } })
  await t.rejects(adapter.exchange(app, fake.login('bdKeyOne', 'alice').code), { name: 'TransportUnavailable' }, 'an empty unionid fails the login')
  fake.setFault({ path: '/rest/2.0/smartapp/getunionid', status: 503 })
  await t.rejects(adapter.exchange(app, fake.login('bdKeyOne', 'alice').code), { name: 'TransportUnavailable' }, 'so does an unreachable getunionid')
  const tokens = fake.callCount('/oauth/2.0/token')
  fake.setFault({ path: '/rest/2.0/smartapp/getunionid', errcode: 110 })
  await t.rejects(adapter.exchange(app, fake.login('bdKeyOne', 'alice').code), refused('other', 'errno_110'), 'a token refused twice is not retried forever')
  t.equal(fake.callCount('/oauth/2.0/token'), tokens + 1)
  fake.setFault(undefined)
  fake.refuse('invalid_client', { path: '/oauth/2.0/token' })
  fake.invalidateAccessToken('bdKeyOne')
  adapter.forgetAccessTokens()
  await t.rejects(adapter.exchange(app, fake.login('bdKeyOne', 'alice').code), refused('bad_credentials', 'invalid_client'), 'the token call refused')
})

t.test('user data and the phone decrypt with the session key; data for another app is refused', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const { code } = fake.login('bdKeyOne', 'alice')
  const { sessionKey } = await adapter.exchange(app, code)
  const profile = { openid: fake.openid('bdKeyOne', 'alice'), nickname: '熊猫', headimgurl: 'https://x/y.png', sex: 1 }
  t.same(adapter.decrypt(app, sessionKey!, fake.seal('bdKeyOne', 'alice', profile)), profile)
  t.same(adapter.phone(app, sessionKey!, fake.phoneData('bdKeyOne', 'alice', '13800138000')), { phoneNumber: '13800138000' })
  t.throws(() => adapter.decrypt(app, sessionKey!, fake.seal('bdKeyOne', 'alice', profile, { forAppKey: 'bdKeyTwo' })), anotherApp)
  t.throws(() => adapter.phone(app, sessionKey!, fake.seal('bdKeyOne', 'alice', { mobile: 13800138000 })), { name: 'DecryptFailure', kind: 'undecryptable' }, 'a mobile that is not text')
  t.throws(() => adapter.phone(app, sessionKey!, fake.seal('bdKeyOne', 'alice', {})), { name: 'DecryptFailure' }, 'no mobile')
  fake.login('bdKeyOne', 'alice')
  t.throws(() => adapter.decrypt(app, sessionKey!, fake.seal('bdKeyOne', 'alice', profile)), { name: 'DecryptFailure', kind: 'undecryptable' }, 'sealed with the next session key')
  const vectorApp = { ...app, appKey: VECTOR.appKey }
  t.same(adapter.decrypt(vectorApp, VECTOR.sessionKey, VECTOR), VECTOR_PLAINTEXT, 'the official vector through the adapter')
  t.type(new PlatformRefusal('baidu', 'other', 'x'), Error)
})

t.test('attack: a client steering the first block cannot change the phone number it hands over', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const { sessionKey } = await adapter.exchange(app, fake.login('bdKeyOne', 'alice').code)
  const sealed = fake.phoneData('bdKeyOne', 'alice', '13800138000')
  // Ciphertext block 0 garbles only the 16 random bytes and XORs into bytes 16-31: length | {"mobile":"1
  // (no MAC notices). Byte 31 is the number's first digit.
  for (const digit of '0234567892') {
    const bytes = Buffer.from(sealed.encryptedData, 'base64')
    bytes[15]! ^= '1'.charCodeAt(0) ^ digit.charCodeAt(0)
    const steered = { ...sealed, encryptedData: bytes.toString('base64') }
    t.throws(() => adapter.phone(app, sessionKey!, steered), { name: 'DecryptFailure' }, `1 -> ${digit}`)
  }
  t.same(adapter.phone(app, sessionKey!, sealed), { phoneNumber: '13800138000' })
})

t.test('attack: an OAuth2 error named like an Object member (constructor, __proto__) is still a bounded kind', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const kinds = new Set(['code_invalid', 'code_anonymous', 'user_blocked', 'bad_credentials', 'rate_limited', 'upstream_busy', 'other'])
  for (const error of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    fake.setFault({ body: { error, error_description: 'x' } })
    const refusal = await adapter.exchange(app, 'x').then(() => undefined, (e: unknown) => e)
    t.ok(refusal instanceof PlatformRefusal, error)
    t.ok(kinds.has((refusal as PlatformRefusal).kind), `${error} -> ${String((refusal as PlatformRefusal).kind).slice(0, 40)}`)
    t.match(refusal, refused('other'), error)
  }
})

t.test('attack: blocks appended after the trailer give no padding oracle (wrong_app is not a second answer)', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const { sessionKey } = await adapter.exchange(app, fake.login('bdKeyOne', 'alice').code)
  const sealed = fake.phoneData('bdKeyOne', 'alice', '13800138000')
  const bytes = Buffer.from(sealed.encryptedData, 'base64')
  const target = bytes.subarray(16, 32)
  // C || X || target: the frame and its JSON stay intact, the trailer grows by X's garbled block and target's
  // plaintext (D(target) XOR X), and only the padding check reads the last block. If a valid pad answered
  // differently from a bad one, 256 guesses at X[15] would decrypt target's last byte, and so on for every byte.
  const answers = new Map<string, number[]>()
  for (let guess = 0; guess < 256; guess++) {
    const x = Buffer.alloc(16)
    x[15] = guess
    const appended = { ...sealed, encryptedData: Buffer.concat([bytes, x, target]).toString('base64') }
    let answer = 'opened'
    try { adapter.decrypt(app, sessionKey!, appended) } catch (error) { answer = error instanceof DecryptFailure ? `${error.name} ${error.kind}` : String(error) }
    answers.set(answer, [...(answers.get(answer) ?? []), guess])
  }
  const summary = [...answers].map(([answer, guesses]) => `${answer} x${guesses.length}`).join(', ')
  t.same([...answers.keys()], ['DecryptFailure undecryptable'], summary)
  const oracle = answers.get('DecryptFailure wrong_app')
  if (oracle?.length === 1) t.comment(`the oracle would read plaintext byte 31 as ${String.fromCharCode(1 ^ oracle[0]! ^ bytes[15]!)}`)
})
