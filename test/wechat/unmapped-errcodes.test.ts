import t from 'tap'
import { APP, build } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'
import { sealWithKey } from '../helpers/sealed.js'

// wechat/client.ts: getUserPhoneNumber() and checkSession() call WeChat with
// rawErrors = true, so any errcode outside the shared table surfaces as a plain
// WechatApiError, which has no statusCode: plugins/errors.ts turns it into
// 500 INTERNAL_ERROR (and logs it as a server failure). WeChat documents more
// errcodes for these APIs than the table maps (e.g. 40003 invalid openid on
// checksession, 47001 data format error, 61024 ...).

const PHONE = { phoneNumber: '13800138000', purePhoneNumber: '13800138000', countryCode: '86' }

t.test('attack: an unmapped errcode from getuserphonenumber or checksession is a 500', async (t) => {
  const { app, fake } = await build(t)
  const alice = await login(app, fake, 'alice')
  // Warm the access_token so the fault hits the API call itself.
  t.equal((await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })).statusCode, 200)

  for (const errcode of [47001, 40003, 61024]) {
    fake.setFault({ errcode, times: 1 })
    const phone = await app.inject({ method: 'POST', url: '/v1/auth/phone', headers: bearer(alice.accessToken), payload: { code: fake.phoneCode(APP.appid, PHONE) } })
    t.comment(`phone, WeChat errcode ${errcode}: ${phone.statusCode} ${phone.json().code}`)
    t.not(phone.statusCode, 500, `phone: errcode ${errcode}`)
  }

  const junk = sealWithKey(Buffer.alloc(16, 7).toString('base64'), { nickName: 'x' })
  fake.setFault({ errcode: 40003, times: 1 })
  const decrypt = await app.inject({ method: 'POST', url: '/v1/auth/decrypt', headers: bearer(alice.accessToken), payload: junk })
  t.comment(`decrypt whose checksession answers 40003: ${decrypt.statusCode} ${decrypt.json().code}`)
  // FAIL on cd7c1d9: 500 INTERNAL_ERROR where a 502 WECHAT_ERROR / WECHAT_UNAVAILABLE is due.
  t.not(decrypt.statusCode, 500, 'decrypt: checksession errcode 40003')
})
