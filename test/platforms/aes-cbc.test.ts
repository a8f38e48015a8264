import t from 'tap'
import { sealForUser } from '../../src/dev/fake-wechat-data.js'
import { DecryptFailure } from '../../src/platforms/adapter.js'
import { openSealed, openWatermarked, watermarkOf } from '../../src/platforms/aes-cbc.js'

// The one AES-128-CBC implementation WeChat, QQ, Douyin and Kuaishou share.
// WeChat's documented sample is the only published vector for the scheme.
const SAMPLE = {
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA==',
  encryptedData: 'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=='
}
const SAMPLE_APPID = 'wx4f4bc4dec97d474b'

const failureOf = (open: () => unknown): DecryptFailure => {
  try { open() } catch (error) { if (error instanceof DecryptFailure) return error; throw error }
  throw new Error('opened')
}

t.test('the documented sample opens, bound to its appid; another appid is wrong_app', async (t) => {
  t.match(openWatermarked(SAMPLE.sessionKey, SAMPLE, SAMPLE_APPID), { nickName: 'Band', watermark: { appid: SAMPLE_APPID } })
  t.match(failureOf(() => openWatermarked(SAMPLE.sessionKey, SAMPLE, 'wx-other')), { kind: 'wrong_app' })
})

t.test('input the client got wrong is malformed; whatever needs the key is undecryptable', async (t) => {
  t.equal(failureOf(() => openSealed(SAMPLE.sessionKey, { ...SAMPLE, iv: 'AAAA' })).kind, 'malformed')
  t.equal(failureOf(() => openSealed(SAMPLE.sessionKey, { ...SAMPLE, encryptedData: 'AAAA' })).kind, 'malformed')
  t.equal(failureOf(() => openSealed('short', SAMPLE)).kind, 'undecryptable', 'a bad stored key is not the client\'s fault')
  const key = Buffer.alloc(16, 3).toString('base64')
  const noWatermark = sealForUser(key, { phoneNumber: '1' })
  t.same(openSealed(key, noWatermark), { phoneNumber: '1' })
  t.equal(watermarkOf(openSealed(key, noWatermark)), undefined)
  t.equal(failureOf(() => openWatermarked(key, noWatermark)).kind, 'undecryptable', 'required watermark missing')
})

t.test('a tampered block, a wrong key, bad padding and valid padding over garbage fail alike', async (t) => {
  const data = Buffer.from(SAMPLE.encryptedData, 'base64')
  const flip = (index: number): string => { const copy = Buffer.from(data); copy[index]! ^= 1; return copy.toString('base64') }
  const cases = {
    wrongKey: () => openSealed(Buffer.alloc(16, 9).toString('base64'), SAMPLE),
    lastBlock: () => openSealed(SAMPLE.sessionKey, { ...SAMPLE, encryptedData: flip(data.length - 1) }),
    // Flipping a byte of the second-to-last block changes the last plaintext byte: the padding breaks.
    padding: () => openSealed(SAMPLE.sessionKey, { ...SAMPLE, encryptedData: flip(data.length - 17) }),
    // Flipping the first block garbles it but keeps the padding valid: the JSON breaks instead.
    firstBlock: () => openSealed(SAMPLE.sessionKey, { ...SAMPLE, encryptedData: flip(0) })
  }
  const seen = Object.entries(cases).map(([name, open]) => { const { kind, message } = failureOf(open); return `${name}: ${kind} ${message}` })
  t.same(new Set(seen.map((line) => line.slice(line.indexOf(':') + 2))).size, 1, seen.join(' | '))
})
