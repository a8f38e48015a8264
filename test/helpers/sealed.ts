import { createCipheriv, randomBytes } from 'node:crypto'

/** Seals any plaintext with a session_key, as WeChat's client does, or as a client splicing blocks ends up with. */
export function sealWithKey (sessionKey: string, plaintext: object | Buffer): { encryptedData: string, iv: string } {
  const iv = randomBytes(16)
  const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
  const bytes = Buffer.isBuffer(plaintext) ? plaintext : Buffer.from(JSON.stringify(plaintext))
  return { encryptedData: Buffer.concat([cipher.update(bytes), cipher.final()]).toString('base64'), iv: iv.toString('base64') }
}

/** The two fields the mini-program sends to the decrypt route. */
export const sealed = ({ encryptedData, iv }: { encryptedData: string, iv: string }) => ({ encryptedData, iv })
