import { createHmac } from 'node:crypto'
import t from 'tap'
import { checkSessionSignature, sealForUser, signRawData } from '../../src/dev/fake-wechat-data.js'
import { DataDecryptError, decodeBase64, decryptData, rawDataSignatureMatches, sessionKeySignature } from '../../src/wechat/data-crypto.js'

// The sample from WeChat's own documentation (its demo code ships this vector).
const SAMPLE = {
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA==',
  encryptedData: 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=='
}

t.test("WeChat's documented sample decrypts to its documented plaintext", async (t) => {
  const data = decryptData(SAMPLE.sessionKey, SAMPLE.encryptedData, SAMPLE.iv)
  t.match(data, { openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE', nickName: 'Band', unionId: 'ocMvos6NjeKLIBqg5Mr9QjxrP1FA', watermark: { appid: 'wx4f4bc4dec97d474b', timestamp: 1477314187 } })
})

t.test('the fake seals data that the real decryptor opens, 4-byte UTF-8 included', async (t) => {
  const key = Buffer.alloc(16, 7).toString('base64')
  const payload = { nickName: '🐼 熊猫 👩‍💻', watermark: { appid: 'wx1', timestamp: 1 } }
  const { encryptedData, iv } = sealForUser(key, payload)
  t.same(decryptData(key, encryptedData, iv), payload)
})

t.test('failure reasons carry the official sample codes', async (t) => {
  const key = SAMPLE.sessionKey
  t.throws(() => decryptData('short', SAMPLE.encryptedData, SAMPLE.iv), new DataDecryptError('illegal_aes_key', -41001))
  t.throws(() => decryptData(key, SAMPLE.encryptedData, 'AAAA'), { name: 'DataDecryptError', reason: 'illegal_iv', wechatCode: -41002 })
  t.throws(() => decryptData(key, 'not base64!', SAMPLE.iv), { name: 'DataDecryptError', reason: 'decode_base64_error', wechatCode: -41004 })
  t.throws(() => decryptData(key, 'AAAA', SAMPLE.iv), { name: 'DataDecryptError', reason: 'illegal_buffer', wechatCode: -41003 })
  t.throws(() => decryptData(Buffer.alloc(16).toString('base64'), SAMPLE.encryptedData, SAMPLE.iv), { name: 'DataDecryptError', reason: 'illegal_buffer' }, 'wrong key')
  const noWatermark = sealForUser(key, { nickName: 'x' })
  t.throws(() => decryptData(key, noWatermark.encryptedData, noWatermark.iv), { name: 'DataDecryptError', reason: 'illegal_buffer' })
  const badWatermark = sealForUser(key, { watermark: { appid: 1, timestamp: 'x' } })
  t.throws(() => decryptData(key, badWatermark.encryptedData, badWatermark.iv), { name: 'DataDecryptError', reason: 'illegal_buffer' })
})

t.test('base64 is strict: canonical alphabet and padding only', async (t) => {
  t.same(decodeBase64('AAEC'), Buffer.from([0, 1, 2]))
  t.same(decodeBase64('AAE='), Buffer.from([0, 1]))
  for (const bad of ['AAE', 'AA=E', 'AA-_', 'AAE=\n', ' AAEC', 'AAF=']) t.equal(decodeBase64(bad), undefined, JSON.stringify(bad))
})

t.test('rawData signatures: sha1(rawData + session_key) hex, any case, nothing else', async (t) => {
  const key = SAMPLE.sessionKey
  const raw = '{"nickName":"Band","gender":1}'
  const signature = signRawData(raw, key)
  t.ok(rawDataSignatureMatches(raw, key, signature))
  t.ok(rawDataSignatureMatches(raw, key, signature.toUpperCase()))
  t.notOk(rawDataSignatureMatches(raw, key, signature.slice(0, 39)))
  t.notOk(rawDataSignatureMatches(raw, key, `${signature}00`))
  t.notOk(rawDataSignatureMatches(`${raw} `, key, signature))
  t.notOk(rawDataSignatureMatches(raw, Buffer.alloc(16).toString('base64'), signature))
})

t.test('checksession signature: HMAC-SHA256 keyed with the session_key string over the empty string', async (t) => {
  // Computed apart from Node: printf '' | openssl dgst -sha256 -hmac 'tiihtNczf5v6AKRyjwEUhQ=='
  const expected = '7154f9f8b4b76b92f541cbf0e37d48840fa06e5e42da92a6f80168a1516a4735'
  t.equal(sessionKeySignature(SAMPLE.sessionKey), expected, 'lower-case hex of the HMAC')
  t.equal(checkSessionSignature(SAMPLE.sessionKey), expected, 'the fake agrees')
  t.not(sessionKeySignature(SAMPLE.sessionKey), createHmac('sha256', Buffer.from(SAMPLE.sessionKey, 'base64')).update('').digest('hex'), 'not the decoded key')
})
