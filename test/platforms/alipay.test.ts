import { generateKeyPairSync } from 'node:crypto'
import t, { type Test } from 'tap'
import { FakeAlipay } from '../../src/dev/fake-alipay.js'
import { AlipayAdapter, alipayRefusalKind, gatewayTimestamp, isAlipayBusy, type AlipayApp } from '../../src/platforms/alipay.js'
import { Transport, TransportTimeout, TransportUnavailable } from '../../src/platforms/transport.js'
import {
  alipayAesDecrypt, alipayAesEncrypt, alipaySignContent, openAlipayAnswer, openAlipayPhone, rsa2Sign, rsa2Verify,
  sealAlipayPhone, signAlipayRequest
} from '../../src/platforms/alipay-crypto.js'
import { topLevelMembers } from '../../src/platforms/raw-json.js'

// alipay-sdk-nodejs-all's own fixture (PLATFORMS.md 4.5): an alipay.open.auth.app.aes.set answer.
const AES_VECTOR = {
  key: Buffer.from('aYA0GP8JEW+D7/UFaskCWA==', 'base64'),
  ciphertext: '4AOYHE0rpPnRnghunsGo+mY02DzANFLwNJJCiHfrNh2oaB2pn33PwOEOvH8mjhkE3Wh/jR+3jHM9nvoFvOsY/SqZbZzamRg9Eh3VkRqOhSM=',
  plaintext: '{"code":"10000","msg":"Success","aes_key":"cW8mcZgoMGUVp5g7uv7bHw=="}'
}

const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 })
const alipay = rsa()
const other = rsa()

const METHOD = 'alipay.system.oauth.token'
/** A gateway body as Alipay lays it out: the member's raw text, then the sign over exactly that text. */
const answer = (raw: string, key = 'alipay_system_oauth_token_response', signer = alipay.privateKey) =>
  `{"${key}":${raw},"sign":"${rsa2Sign(raw, signer)}"}`
const TOKEN = '{"access_token":"publicpBa869cad0990e4e17a57ecf7c5469a4b2","alipay_user_id":"20880012345678901234567890123456","auth_start":"2026-12-01 10:00:00","expires_in":300,"re_expires_in":300,"refresh_token":"publicpB343643f9d7e4c3c8fd8d4d3e1e1e4e3","user_id":"2088102150477652"}'

const failure = (kind: string) => ({ name: 'DecryptFailure', kind })

t.test("the Alipay SDK's AES fixture decrypts to its documented plaintext", async (t) => {
  t.equal(alipayAesDecrypt(AES_VECTOR.key, AES_VECTOR.ciphertext), AES_VECTOR.plaintext)
  t.equal(alipayAesEncrypt(AES_VECTOR.key, AES_VECTOR.plaintext), AES_VECTOR.ciphertext, 'and encrypting gives the fixture back')
})

t.test('the sign string: sorted, sign and empty values left out, sign_type kept', async (t) => {
  t.equal(alipaySignContent({ method: METHOD, app_id: '2021', sign: 'x', code: '', grant_type: 'authorization_code', sign_type: 'RSA2', extra: undefined }),
    'app_id=2021&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2')
  const signed = signAlipayRequest({ app_id: '2021', method: METHOD, timestamp: '2026-12-01 10:00:00' }, other.privateKey)
  t.ok(rsa2Verify('app_id=2021&method=alipay.system.oauth.token&timestamp=2026-12-01 10:00:00', signed.sign, other.publicKey))
  t.notOk(rsa2Verify('app_id=2022&method=alipay.system.oauth.token&timestamp=2026-12-01 10:00:00', signed.sign, other.publicKey), 'another request')
  t.notOk(rsa2Verify('x', 'not base64!', other.publicKey))
  t.notOk(rsa2Verify('x', 42, other.publicKey))
})

t.test('an answer is verified over its raw text, spacing and escapes as sent', async (t) => {
  // Re-serialising this member would drop the spaces and the \/ escape, and the signature with them.
  const raw = '{ "user_id" : "2088102150477652",\n "avatar": "https:\\/\\/x", "n": 1.50 }'
  const opened = openAlipayAnswer(answer(raw), METHOD, alipay.publicKey)
  t.same(opened, { key: 'alipay_system_oauth_token_response', value: { user_id: '2088102150477652', avatar: 'https://x', n: 1.5 }, signed: true })
  t.same(openAlipayAnswer(` \n${answer(TOKEN)}\n`, METHOD, alipay.publicKey).value.user_id, '2088102150477652', 'whitespace around the body')
  const signFirst = `{"sign":"${rsa2Sign(TOKEN, alipay.privateKey)}","alipay_system_oauth_token_response":${TOKEN}}`
  t.equal(openAlipayAnswer(signFirst, METHOD, alipay.publicKey).value.user_id, '2088102150477652', 'members in any order')
})

t.test('attack: a forged or missing signature never yields the answer', async (t) => {
  t.throws(() => openAlipayAnswer(answer(TOKEN, undefined, other.privateKey), METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'forged' })
  t.throws(() => openAlipayAnswer(`{"alipay_system_oauth_token_response":${TOKEN}}`, METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'unsigned' })
  t.throws(() => openAlipayAnswer(`{"alipay_system_oauth_token_response":${TOKEN},"sign":""}`, METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'forged' })
  t.throws(() => openAlipayAnswer(`{"alipay_system_oauth_token_response":${TOKEN},"sign":null}`, METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'forged' })
  const evil = TOKEN.replace('2088102150477652', '2088102150470000')
  const signed = answer(TOKEN)
  t.throws(() => openAlipayAnswer(signed.replace(TOKEN, evil), METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'forged' }, 'the signed member edited')
  t.throws(() => openAlipayAnswer(answer(TOKEN, 'alipay_user_info_share_response'), METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'malformed' }, "another method's answer")
  const forgedError = `{"error_response":{"code":"40002","sub_code":"isv.code-invalid"},"sign":"${rsa2Sign('{}', alipay.privateKey)}"}`
  t.throws(() => openAlipayAnswer(forgedError, METHOD, alipay.publicKey), { name: 'AlipayAnswerError', reason: 'forged' }, 'a signed error is verified too')
  const unsignedError = openAlipayAnswer('{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.code-invalid"}}', METHOD, alipay.publicKey)
  t.same(unsignedError, { key: 'error_response', value: { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.code-invalid' }, signed: false }, 'an unsigned error can only refuse')
})

t.test('attack: a body spliced around the signed part never yields the spliced member', async (t) => {
  const evil = TOKEN.replace('2088102150477652', '2088102150470000')
  const signed = answer(TOKEN)
  const open = (body: string) => openAlipayAnswer(body, METHOD, alipay.publicKey)
  // JSON.parse keeps the last of two same-named members: a reader verifying the first and parsing the body would take the evil one.
  t.throws(() => open(`${signed.slice(0, -1)},"alipay_system_oauth_token_response":${evil}}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'the member repeated after the sign')
  t.throws(() => open(`{"alipay_system_oauth_token_response":${evil},${signed.slice(1)}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'the member repeated before')
  t.throws(() => open(`${signed.slice(0, -1)},"alipay_system_oauth_token\\u005fresponse":${evil}}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'repeated under an escaped name')
  t.throws(() => open(`${signed.slice(0, -1)},"error_response":{"code":"10000"}}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'both members')
  t.throws(() => open(`${signed.slice(0, -1)},"sign":"x"}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'two signs')
  t.throws(() => open(`${signed}{"alipay_system_oauth_token_response":${evil}}`), { name: 'AlipayAnswerError', reason: 'malformed' }, 'a second object after the body')
  t.throws(() => open(`[${signed}]`), { name: 'AlipayAnswerError', reason: 'malformed' })
  // The raw substring a naive reader cuts from the first key to the last "sign" would span the evil text; ours is the member's own value.
  const nested = `{"alipay_system_oauth_token_response":${TOKEN},"note":{"sign":"x","alipay_system_oauth_token_response":${evil}},"sign":"${rsa2Sign(TOKEN, alipay.privateKey)}"}`
  t.equal(open(nested).value.user_id, '2088102150477652', 'a nested member of the same name is not read')
  const inString = `{"alipay_system_oauth_token_response":${TOKEN},"note":"\\",\\"alipay_system_oauth_token_response\\":${evil.replaceAll('"', '\\"')}","sign":"${rsa2Sign(TOKEN, alipay.privateKey)}"}`
  t.equal(open(inString).value.user_id, '2088102150477652', 'a member written inside a string is not read')
})

t.test('the raw scanner reads only well-formed JSON, to a bounded depth', async (t) => {
  t.same(topLevelMembers('{"a" : [1, {"b": "c"}], "d":-0.5e+3 ,"e":null,"f":true,"g":"\\u00e9\\n"}'),
    new Map([['a', '[1, {"b": "c"}]'], ['d', '-0.5e+3'], ['e', 'null'], ['f', 'true'], ['g', '"\\u00e9\\n"']]))
  t.same(topLevelMembers(' {} '), new Map())
  for (const bad of ['', '{', '{"a":1,}', '{"a":01}', '{"a":tru}', '{"a":"x\ny"}', '{a:1}', '{"a":1}x', '{"a":[1,]}', '{"a" 1}', '"a"', '{"a":"\\x"}', '{"a":1 "b":2}']) {
    t.equal(topLevelMembers(bad), undefined, JSON.stringify(bad))
  }
  t.equal(topLevelMembers(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), undefined, 'deep nesting refused, not a stack overflow')
  t.ok(topLevelMembers(`{"a":${'['.repeat(60)}${']'.repeat(60)}}`), 'nesting within the bound')
})

t.test('the phone payload: verified over the quoted ciphertext, then decrypted', async (t) => {
  const aesKey = Buffer.alloc(16, 4)
  const content = { code: '10000', msg: 'Success', mobile: '13800138000' }
  const sealed = sealAlipayPhone(content, aesKey, alipay.privateKey)
  t.same(openAlipayPhone(sealed, alipay.publicKey, aesKey), content)
  t.same(openAlipayPhone(JSON.stringify(sealed), alipay.publicKey, aesKey), content, 'the response string as my.getPhoneNumber gives it')
  t.same(openAlipayPhone({ response: sealed.response, sign: sealed.sign }, alipay.publicKey, aesKey), content, 'type fields optional')
  const unquoted = { ...sealed, sign: rsa2Sign(sealed.response, alipay.privateKey) }
  t.throws(() => openAlipayPhone(unquoted, alipay.publicKey, aesKey), failure('undecryptable'), 'a sign over the bare ciphertext is not Alipay\'s')
  t.throws(() => openAlipayPhone({ ...sealed, sign_type: 'RSA' }, alipay.publicKey, aesKey), failure('malformed'))
  t.throws(() => openAlipayPhone({ ...sealed, encrypt_type: 'RSA' }, alipay.publicKey, aesKey), failure('malformed'))
  t.throws(() => openAlipayPhone({ ...sealed, response: `${sealed.response}"` }, alipay.publicKey, aesKey), failure('malformed'), 'a quote in the response')
  t.throws(() => openAlipayPhone('not json', alipay.publicKey, aesKey), failure('malformed'))
  t.throws(() => openAlipayPhone({ response: sealed.response } as never, alipay.publicKey, aesKey), failure('malformed'), 'no sign')
  const notJson = { response: alipayAesEncrypt(aesKey, 'plain'), sign: '' }
  notJson.sign = rsa2Sign(`"${notJson.response}"`, alipay.privateKey)
  t.throws(() => openAlipayPhone(notJson, alipay.publicKey, aesKey), failure('undecryptable'), 'signed, but not JSON inside')
})

t.test('attack: tampered ciphertext and a wrong key give the same failure', async (t) => {
  const aesKey = Buffer.alloc(16, 4)
  const sealed = sealAlipayPhone({ code: '10000', msg: 'Success', mobile: '13800138000' }, aesKey, alipay.privateKey)
  const failures: unknown[] = []
  const attempt = (fn: () => unknown) => { try { fn() } catch (error) { failures.push(error) } }
  attempt(() => openAlipayPhone(sealed, alipay.publicKey, Buffer.alloc(16, 5)))
  const bytes = Buffer.from(sealed.response, 'base64')
  for (let at = 0; at < bytes.length; at++) {
    const tampered = Buffer.from(bytes)
    tampered[at]! ^= 0x01
    attempt(() => openAlipayPhone({ ...sealed, response: tampered.toString('base64') }, alipay.publicKey, aesKey))
  }
  attempt(() => openAlipayPhone(sealed, other.publicKey, aesKey))
  t.equal(failures.length, bytes.length + 2, 'every attempt failed')
  t.same(new Set(failures.map((error) => `${(error as Error).name}/${(error as { kind: string }).kind}`)), new Set(['DecryptFailure/undecryptable']))
  // The tampered ones stop at the signature: the AES layer (and its padding check) never sees them.
  t.same(new Set(failures.slice(1).map((error) => (error as { detail: string }).detail)), new Set(['signature does not verify']))
})

t.test('AES input shape is checked before decrypting', async (t) => {
  t.throws(() => alipayAesDecrypt(Buffer.alloc(15), AES_VECTOR.ciphertext), failure('undecryptable'), 'a 15-byte key (ours, not the client\'s)')
  t.throws(() => alipayAesDecrypt(AES_VECTOR.key, 'AAAA'), failure('malformed'))
  t.throws(() => alipayAesDecrypt(AES_VECTOR.key, 'not base64'), failure('malformed'))
  t.throws(() => alipayAesDecrypt(AES_VECTOR.key, ''), failure('malformed'))
  t.throws(() => alipayAesDecrypt(Buffer.alloc(16), AES_VECTOR.ciphertext), failure('undecryptable'), 'the wrong key')
})

const appKeys = rsa()
const aesOne = Buffer.alloc(16, 11)
const aesTwo = Buffer.alloc(16, 12)

async function setup (t: Test) {
  const fake = new FakeAlipay([
    { appid: '2021000000000001', appPublicKey: appKeys.publicKey, aesKey: aesOne },
    { appid: '2021000000000002', appPublicKey: appKeys.publicKey, aesKey: aesTwo, subject: 'open_id', grouped: true }
  ])
  await fake.listen()
  const transport = new Transport({ timeoutMs: 300, busyBackoffMs: 5, retryIf: isAlipayBusy })
  t.teardown(async () => { await transport.close(); await fake.close() })
  const app = (appid = '2021000000000001', aesKey = aesOne): AlipayApp =>
    ({ platform: 'alipay', appid, privateKey: appKeys.privateKey, alipayPublicKey: fake.alipayPublicKey, aesKey, apiBase: fake.url })
  return { fake, app, adapter: new AlipayAdapter(transport) }
}

const refused = (kind: string, upstream?: string) => ({ name: 'PlatformRefusal', platform: 'alipay', kind, ...(upstream === undefined ? {} : { upstream }) })
const unbelieved = (reason: string) => ({ name: 'TransportUnavailable', reason })

t.test('an authCode is exchanged for the user_id, or the open_id and union_id of a grouped app', async (t) => {
  const { fake, app, adapter } = await setup(t)
  t.same(await adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')), { subject: fake.userId('alice'), subjectKind: 'user_id' })
  t.match(fake.userId('alice'), /^2088\d{12}$/)
  t.same(await adapter.exchange(app('2021000000000002', aesTwo), fake.getAuthCode('2021000000000002', 'alice')),
    { subject: fake.openId('2021000000000002', 'alice'), subjectKind: 'openid', unionid: fake.unionId('alice') })
  t.equal(fake.callCount('/gateway.do'), 2)
})

t.test('refusals map onto the service\'s kinds', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const code = fake.getAuthCode('2021000000000001', 'alice')
  await adapter.exchange(app(), code)
  await t.rejects(adapter.exchange(app(), code), refused('code_invalid', 'isv.code-invalid'), 'a replayed code')
  await t.rejects(adapter.exchange(app(), fake.getAuthCode('2021000000000002', 'alice')), refused('code_invalid'), "another app's code")
  await t.rejects(adapter.exchange({ ...app(), privateKey: other.privateKey }, fake.getAuthCode('2021000000000001', 'alice')), refused('bad_credentials', 'isv.invalid-signature'), 'a request signed with the wrong key')
  await t.rejects(adapter.exchange(app('2021999999999999'), 'x'), refused('bad_credentials', 'isv.invalid-app-id'), 'an unknown app: unsigned, still a refusal')
  fake.setAnswerFault({ subCode: 'isv.something-new' })
  await t.rejects(adapter.exchange(app(), 'x'), refused('other', 'isv.something-new'))
  t.equal(alipayRefusalKind('40006', 'isv.insufficient-isv-permissions'), 'bad_credentials')
  t.equal(alipayRefusalKind('20001', 'aop.invalid-auth-token'), 'bad_credentials')
  t.equal(alipayRefusalKind('40004', 'ACQ.X'), 'other')
})

t.test('a busy Alipay is retried within the deadline; a lasting one is refused as upstream_busy', async (t) => {
  const { fake, app, adapter } = await setup(t)
  fake.setAnswerFault({ subCode: 'isp.unknow-error', times: 1 })
  t.equal((await adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice'))).subject, fake.userId('alice'))
  fake.setAnswerFault({ subCode: 'aop.unknow-error' })
  await t.rejects(adapter.exchange(app(), 'x'), refused('upstream_busy', 'aop.unknow-error'))
  t.equal(fake.callCount('/gateway.do'), 5, 'two calls, then three attempts')
})

t.test('faults: slow, a gateway status, a broken body, a reset connection', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const cases: Array<[object, object]> = [
    [{ delayMs: 600 }, TransportTimeout], [{ status: 502 }, TransportUnavailable],
    [{ malformed: true }, TransportUnavailable], [{ reset: true }, TransportUnavailable]
  ]
  for (const [fault, error] of cases) {
    fake.setFault(fault)
    await t.rejects(adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')), error as never, JSON.stringify(fault))
  }
})

t.test('attack: a forged, missing or spliced signature never yields an identity', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const evil = { user_id: '2088000000000001' }
  fake.setAnswerFault({ forged: true })
  await t.rejects(adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')), unbelieved('answer forged'))
  fake.setAnswerFault({ forged: true, body: evil })
  await t.rejects(adapter.exchange(app(), 'x'), unbelieved('answer forged'), 'a forged answer naming a user')
  fake.setAnswerFault({ unsigned: true })
  await t.rejects(adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')), unbelieved('answer unsigned'))
  fake.setAnswerFault(undefined)
  fake.setFault({ body: { alipay_system_oauth_token_response: evil } })
  await t.rejects(adapter.exchange(app(), 'x'), unbelieved('answer unsigned'), 'an unsigned answer naming a user')
  fake.setFault({ errcode: 20000 })
  await t.rejects(adapter.exchange(app(), 'x'), refused('upstream_busy', '20000'), 'an unsigned error_response only refuses')
  fake.setFault(undefined)
  fake.setAnswerFault({ splice: evil })
  await t.rejects(adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')), unbelieved('answer malformed'), 'a second member after the signed one')
  fake.setAnswerFault({ forged: true, subCode: 'isv.code-invalid' })
  await t.rejects(adapter.exchange(app(), 'x'), unbelieved('answer forged'), 'even a refusal must carry a good sign when it carries one')
})

t.test('a lying answer, signed or not, never becomes an identity', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const lies: Array<Record<string, unknown>> = [
    {}, { user_id: '' }, { user_id: '123' }, { user_id: 2088000000000001 }, { user_id: '2088000000000001x' }, { open_id: '' }, { open_id: 'a b' },
    { user_id: '2088000000000001', union_id: 5 }, { user_id: '2088000000000001', union_id: 'x y' }, { user_id: 'bad', open_id: 'good' }
  ]
  for (const body of lies) {
    fake.setAnswerFault({ body })
    await t.rejects(adapter.exchange(app(), 'x'), { name: 'TransportUnavailable' }, JSON.stringify(body))
  }
  fake.setAnswerFault({ body: { code: '40004', msg: 'Business Failed', sub_code: 'isv.user-frozen' } })
  await t.rejects(adapter.exchange(app(), 'x'), refused('other', 'isv.user-frozen'), 'a business failure inside the method\'s own member')
  fake.setAnswerFault({ body: { user_id: '2088000000000001', union_id: '' } })
  t.same(await adapter.exchange(app(), 'x'), { subject: '2088000000000001', subjectKind: 'user_id' }, 'an empty union_id is none')
})

t.test('the request is signed as Alipay specifies: the fake checks it and the timestamp format', async (t) => {
  t.equal(gatewayTimestamp(Date.UTC(2026, 11, 31, 20, 5, 9)), '2027-01-01 04:05:09', 'Beijing time')
  const { fake, app, adapter } = await setup(t)
  await t.resolves(adapter.exchange(app(), fake.getAuthCode('2021000000000001', 'alice')))
})

t.test('the phone: Alipay\'s signature, then the app\'s AES key', async (t) => {
  const { fake, app, adapter } = await setup(t)
  t.same(adapter.phone(app(), fake.phoneResponse('2021000000000001', '13800138000')), { phoneNumber: '13800138000' })
  t.same(adapter.phone(app(), JSON.parse(fake.phoneResponse('2021000000000001', '13800138000'))), { phoneNumber: '13800138000' }, 'parsed by the client')
  t.throws(() => adapter.phone(app(), fake.phoneResponse('2021000000000002', '13800138000')), failure('undecryptable'), "another app's AES key")
  const refusedInside = fake.phoneResponse('2021000000000001', '', { content: { code: '40003', msg: 'Insufficient Conditions', sub_code: 'isv.invalid-auth-relations' } })
  t.throws(() => adapter.phone(app(), refusedInside), refused('bad_credentials', 'isv.invalid-auth-relations'))
  t.throws(() => adapter.phone(app(), fake.phoneResponse('2021000000000001', 'not-a-number')), failure('undecryptable'))
  const sealed = JSON.parse(fake.phoneResponse('2021000000000001', '13800138000'))
  t.throws(() => adapter.phone({ ...app(), alipayPublicKey: other.publicKey }, sealed), failure('undecryptable'), 'a sign by another key')
})

t.test('attack: a refusal inside the phone payload, as Alipay documents it (subCode), keeps its kind', async (t) => {
  const { fake, app, adapter } = await setup(t)
  const cases: Array<[subCode: string, kind: string]> = [
    ['isv.invalid-auth-relations', 'bad_credentials'], ['isv.missing-default-signature-type', 'bad_credentials'], ['aop.unknow-error', 'upstream_busy']
  ]
  for (const [subCode, kind] of cases) {
    t.throws(() => adapter.phone(app(), fake.phoneRefusal('2021000000000001', subCode)), refused(kind, subCode), subCode)
  }
  t.match(JSON.parse(alipayAesDecrypt(aesOne, JSON.parse(fake.phoneRefusal('2021000000000001', 'isv.invalid-auth-relations')).response)),
    { code: '40003', msg: 'Insufficient Conditions', subCode: 'isv.invalid-auth-relations', subMsg: '无效的授权关系' }, 'the documented shape')
})
