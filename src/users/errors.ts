import createError from '@fastify/error'

export const EncryptedDataMalformed = createError('ENCRYPTED_DATA_MALFORMED', '%s', 400)
export const EncryptedDataInvalid = createError('ENCRYPTED_DATA_INVALID',
  'encryptedData could not be decrypted with this user\'s session_key: it is corrupt, or was fetched before a later wx.login(); fetch it again', 400)
export const SessionKeyStale = createError('SESSION_KEY_STALE',
  'the stored session_key is no longer valid at WeChat: call wx.login(), log in again, then fetch the data again', 401)
export const WatermarkAppidMismatch = createError('WATERMARK_APPID_MISMATCH', 'the data was not produced for this mini-program (watermark.appid differs)', 400)
export const WatermarkExpired = createError('WATERMARK_EXPIRED', 'the data is older than %s seconds: fetch it again', 400)
export const SignatureInvalid = createError('SIGNATURE_INVALID', 'signature does not match rawData and the session_key', 400)
export const RawDataInvalid = createError('RAW_DATA_INVALID', 'rawData must be a JSON object', 400)
export const PhoneCodeInvalid = createError('PHONE_CODE_INVALID',
  'phone code invalid, expired or used: get a new one from the getPhoneNumber button (a wx.login code does not work here)', 400)
export const SessionKeyAbsent = createError('SESSION_KEY_ABSENT',
  'this session\'s platform has no session_key (Alipay): there is nothing to decrypt or verify with it', 400)
export const SessionKeyUnreadable = createError('SESSION_KEY_UNREADABLE',
  'the stored session_key cannot be read (its encryption key is no longer configured): call wx.login(), log in again, then fetch the data again', 401)
