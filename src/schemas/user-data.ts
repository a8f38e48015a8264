import Type from 'typebox'
import { MAX_ENCRYPTED_DATA_BYTES } from '../wechat/data-crypto.js'

const base64Length = (bytes: number) => Math.ceil(bytes / 3) * 4

export const DecryptBody = Type.Object({
  encryptedData: Type.String({ minLength: 1, maxLength: base64Length(MAX_ENCRYPTED_DATA_BYTES), description: 'base64, from wx.getUserProfile / getPhoneNumber' }),
  iv: Type.String({ minLength: 1, maxLength: 64, description: 'base64 of 16 bytes' })
}, { additionalProperties: false })

export const VerifyBody = Type.Object({
  rawData: Type.String({ minLength: 2, maxLength: 8192 }),
  signature: Type.String({ minLength: 1, maxLength: 64, description: 'sha1(rawData + session_key), hex' })
}, { additionalProperties: false })

const PhoneCode = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: "the getPhoneNumber button's code (not a wx.login code)" })
}, { additionalProperties: false, title: 'PhoneCode', description: 'WeChat' })

const PhoneSealed = Type.Object({
  encryptedData: DecryptBody.properties.encryptedData,
  iv: DecryptBody.properties.iv
}, { additionalProperties: false, title: 'PhoneSealed', description: "Douyin, Kuaishou, Baidu: the getPhoneNumber button's data, sealed with the session key" })

const PhoneAlipay = Type.Object({
  response: Type.String({ minLength: 1, maxLength: base64Length(MAX_ENCRYPTED_DATA_BYTES), description: 'base64, AES with the app\'s key' }),
  sign: Type.String({ minLength: 1, maxLength: 1024, description: "Alipay's RSA2 signature of the response" }),
  sign_type: Type.Optional(Type.Literal('RSA2')),
  encrypt_type: Type.Optional(Type.Literal('AES')),
  charset: Type.Optional(Type.String({ maxLength: 16 }))
}, { additionalProperties: false, title: 'PhoneAlipay', description: "Alipay: my.getPhoneNumber's response, parsed" })

/** One body per scheme; which one a session takes depends on its platform (docs/api.md). */
export const PhoneBody = Type.Union([PhoneCode, PhoneSealed, PhoneAlipay])

export const DataResponse = Type.Object({
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'the decrypted JSON, watermark included' })
}, { additionalProperties: false })
