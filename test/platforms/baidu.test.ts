import { createCipheriv } from 'node:crypto'
import t from 'tap'
import { BaiduDecryptError, decryptBaiduData, sealBaiduData } from '../../src/platforms/baidu-crypto.js'

// Baidu's own PHP sample (PLATFORMS.md 3.5): AES-192, a 24-byte session key, padding of 28 bytes.
const VECTOR = {
  appKey: 'y2dTfnWfkx2OXttMEMWlGHoB1KzMogm7',
  sessionKey: '1df09d0a1677dd72b8325aec59576e0c',
  iv: '1df09d0a1677dd72b8325Q==',
  encryptedData: 'OpCoJgs7RrVgaMNDixIvaCIyV2SFDBNLivgkVqtzq2GC10egsn+PKmQ/+5q+chT8xzldLUog2haTItyIkKyvzvmXonBQLIMeq54axAu9c3KG8IhpFD6+ymHocmx07ZKi7eED3t0KyIxJgRNSDkFk5RV1ZP2mSWa7ZgCXXcAbP0RsiUcvhcJfrSwlpsm0E1YJzKpYy429xrEEGvK+gfL+Cw=='
}
const VECTOR_PLAINTEXT = { openid: 'open_id', nickname: 'baidu_user', headimgurl: 'url of image', sex: 1 }

const failure = (kind: string) => ({ name: 'BaiduDecryptError', kind })

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

t.test('data sealed for another app is refused as wrong_app', async (t) => {
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, 'another-app-key'), failure('wrong_app'))
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey.slice(0, -1)), failure('wrong_app'), 'a prefix of the app key')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, VECTOR.iv, ''), failure('wrong_app'), 'an empty app key')
  const key = Buffer.alloc(24, 9).toString('base64')
  const sealed = sealBaiduData(key, `${VECTOR.appKey}x`, { openid: 'o' })
  t.throws(() => decryptBaiduData(key, sealed.encryptedData, sealed.iv, VECTOR.appKey), failure('wrong_app'), 'the app key followed by more')
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
      if (!(error instanceof BaiduDecryptError) || error.message !== (wrongKey as Error).message) {
        t.fail(`byte ${at} bit ${bit} gave ${String(error)}`)
        return
      }
      kinds.add(error.kind)
    }
  }
  // No MAC: a flip landing only in the trailing app key reads as another app's data; the client sees the same error.
  t.same([...kinds].sort(), ['undecryptable', 'wrong_app'])
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
  t.throws(() => decryptBaiduData('short', VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey), failure('malformed'), 'a 16-byte key')
  t.throws(() => decryptBaiduData(Buffer.alloc(16).toString('base64'), VECTOR.encryptedData, VECTOR.iv, VECTOR.appKey), failure('malformed'), 'AES-128 key size')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, VECTOR.encryptedData, 'AAAA', VECTOR.appKey), failure('malformed'), 'short iv')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, 'not base64!', VECTOR.iv, VECTOR.appKey), failure('malformed'))
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, 'AAAA', VECTOR.iv, VECTOR.appKey), failure('malformed'), 'not a whole block')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, '', VECTOR.iv, VECTOR.appKey), failure('malformed'), 'empty')
  t.throws(() => decryptBaiduData(VECTOR.sessionKey, Buffer.alloc(32 * 1024).toString('base64'), VECTOR.iv, VECTOR.appKey), failure('malformed'), 'too large')
  t.type(new BaiduDecryptError('malformed'), Error)
})
