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

export const PhoneBody = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: "the getPhoneNumber button's code (not a wx.login code)" })
}, { additionalProperties: false })

export const DataResponse = Type.Object({
  data: Type.Record(Type.String(), Type.Unknown(), { description: 'the decrypted JSON, watermark included' })
}, { additionalProperties: false })
