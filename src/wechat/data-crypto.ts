import { createHmac } from 'node:crypto'
import { SealedDataError, openWatermarked, type DecryptedData, type SealedStep } from '../platforms/aes-cbc.js'

// WeChat's "sensitive data" scheme, the one QQ, Douyin and Kuaishou share
// (src/platforms/aes-cbc.ts). Failure reasons carry the official sample's codes
// for the logs only: the client sees one uniform error, so answers cannot serve
// as a padding oracle.

export { MAX_ENCRYPTED_DATA_BYTES, checkSealedShape, decodeBase64, parseJsonObject, rawDataSignatureMatches, type DecryptedData, type Watermark } from '../platforms/aes-cbc.js'

export type DecryptFailure = SealedStep

const WECHAT_CODES: Record<SealedStep, number> = {
  illegal_aes_key: -41001, illegal_iv: -41002, illegal_buffer: -41003, decode_base64_error: -41004
}

export class DataDecryptError extends Error {
  override name = 'DataDecryptError'
  constructor (readonly reason: DecryptFailure, readonly wechatCode: number) {
    super(`${reason} (${wechatCode})`)
  }
}

export function decryptData (sessionKey: string, encryptedData: string, iv: string): DecryptedData {
  try {
    return openWatermarked(sessionKey, { encryptedData, iv })
  } catch (error) {
    if (error instanceof SealedDataError) throw new DataDecryptError(error.step, WECHAT_CODES[error.step])
    throw error
  }
}

/**
 * The user login-state signature: HMAC-SHA256 keyed with the session_key string
 * (not decoded) over the request body; wxa/checksession is a GET, whose body is
 * the empty string.
 */
export function sessionKeySignature (sessionKey: string, body = ''): string {
  return createHmac('sha256', sessionKey).update(body).digest('hex')
}
