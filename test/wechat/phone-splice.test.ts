import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// A REAL CBC splice (no session_key used anywhere): the attacker only holds
// ciphertexts that WeChat produced for it, and their plaintexts (which the
// service itself returns from /v1/auth/decrypt). AES-CBC has no MAC:
//  - the IV sets the first plaintext block freely:      P0 = D(C0) xor IV
//  - starting at any block of a ciphertext keeps the rest intact
//  - joining ciphertext A (up to block k) to ciphertext B (from block 0)
//    gives ONE block of known "garbage" D(B0) xor A[k], computable offline.
// With a nickname that contains the victim's number (user-chosen text in a
// userInfo payload) and the attacker's own getPhoneNumber payload, this builds
//   {"phoneNumber":"<victim>","avatarUrl":"https://...<junk>+86 1380...","purePhoneNumber":"...","countryCode":"86","watermark":{...}}
// which decrypts with the attacker's key, passes the watermark check, and is
// stored as the user's phone number (users/user-data.ts apply -> updatePhone).

const VICTIM = '+86 13912345678'
const OWN = { phoneNumber: '+86 13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((x, i) => x ^ b[i]!))
const block = (buf: Buffer, i: number) => buf.subarray(16 * i, 16 * i + 16)
// Inside a JSON string, after utf8 decoding: no control characters, no quote, no backslash.
const stringSafe = (b: Buffer) => b.every((x) => x >= 0x20 && x !== 0x22 && x !== 0x5c)

t.test('attack: a spliced ciphertext stores a phone number WeChat never vouched for', async (t) => {
  const { app, fake } = await build(t)
  const mallory = await login(app, fake, 'mallory')
  const decrypt = (payload: { encryptedData: string, iv: string }) =>
    app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(mallory.accessToken), payload: { encryptedData: payload.encryptedData, iv: payload.iv } })
  const plaintextOf = async (sealed: { encryptedData: string, iv: string }) => {
    const res = await decrypt(sealed)
    t.equal(res.statusCode, 200, res.body.slice(0, 200))
    return Buffer.from(JSON.stringify(res.json().data))
  }

  // 1. Align the victim's number at a block boundary inside the nickname.
  const probe = await plaintextOf(fake.userInfo(APP.appid, 'mallory', { nickName: 'x', avatarUrl: 'https://a' }))
  const prefix = probe.indexOf('"nickName":"') + '"nickName":"'.length
  const filler = 'A'.repeat((16 - (prefix % 16)) % 16)
  const avatarUrl = `https://thirdwx.qlogo.cn/mmopen/vi_32/${'Q'.repeat(160)}/132`
  const info = fake.userInfo(APP.appid, 'mallory', { nickName: filler + VICTIM, avatarUrl })
  const uPlain = await plaintextOf(info)
  const uCipher = Buffer.from(info.encryptedData, 'base64')
  const uIv = Buffer.from(info.iv, 'base64')
  const victimAt = uPlain.indexOf(VICTIM)
  t.equal(victimAt % 16, 0, 'victim number starts a block')
  const j = victimAt / 16 - 1
  const prevOf = (i: number) => (i === 0 ? uIv : block(uCipher, i - 1))
  const iv = xor(xor(Buffer.from('{"phoneNumber":"'), block(uPlain, j)), prevOf(j))

  // 2. Own phone payload(s): block 0 is always '{"phoneNumber":"'. Find a junction whose garbage stays inside avatarUrl.
  const avatarStart = uPlain.indexOf(avatarUrl)
  const avatarEnd = avatarStart + avatarUrl.length
  let forged: { encryptedData: string, iv: string } | undefined
  for (let attempt = 0; attempt < 50 && forged === undefined; attempt++) {
    const phone = fake.phoneData(APP.appid, 'mallory', OWN)
    const pCipher = Buffer.from(phone.encryptedData, 'base64')
    const d0 = xor(Buffer.from('{"phoneNumber":"'), Buffer.from(phone.iv, 'base64'))
    for (let k = j + 1; 16 * (k + 1) <= avatarEnd; k++) {
      if (16 * k < avatarStart) continue
      if (!stringSafe(xor(d0, block(uCipher, k)))) continue
      forged = { encryptedData: Buffer.concat([uCipher.subarray(16 * j, 16 * (k + 1)), pCipher]).toString('base64'), iv: iv.toString('base64') }
      t.comment(`junction found after ${attempt + 1} phone payload(s), at userInfo block ${k}`)
      break
    }
  }
  t.ok(forged, 'a splice was computed offline')
  const res = await decrypt(forged!)
  t.comment(`decrypt answered ${res.statusCode}: ${JSON.stringify(res.json()).slice(0, 200)}`)
  const me = (await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(mallory.accessToken) })).json()
  t.comment(`/v1/me phoneNumber: ${me.phoneNumber}`)
  // This assertion Failed on cd7c1d9: the stored, displayed phone number is the victim's.
  t.not(me.phoneNumber, VICTIM, 'a phone number assembled by the client must not be stored')
})
