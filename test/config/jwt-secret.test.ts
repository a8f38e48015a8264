import { generateKeyPairSync, randomBytes } from 'node:crypto'
import t from 'tap'
import { parseConfig } from '../../src/config/index.js'
import { isRandomSecret } from '../../src/config/jwt-secret.js'
import { problemsOf } from '../helpers/config.js'

const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://u:p@db:5432/x',
  WECHAT_APPID: 'wx1',
  WECHAT_SECRET: 's',
  SESSION_KEY_ENCRYPTION_KEYS: randomBytes(32).toString('base64')
}

// Failed on 347a147: `my-super-secret-jwt-key-for-production` (38 characters, 18 different) started in
// production; the issue recovered it offline from one token and forged another user's token with it.
t.test('attack: a typed passphrase is refused as a production JWT_SECRET, naming how to generate one', async (t) => {
  const weak = ['my-super-secret-jwt-key-for-production', 'My-Super-Secret-JWT-Key-For-Production-2026-and-then-some',
    'k9Qf2Lx7Zp4Wm8Rt1Vb6Nc3Hy5Jd0Gs2', 'ab'.repeat(32), '0123456789abcdef'.repeat(4), Buffer.alloc(32, 7).toString('base64'),
    Buffer.from('abcd'.repeat(8)).toString('base64'), '1'.repeat(64)]
  for (const secret of weak) {
    const problems = problemsOf({ ...production, JWT_SECRET: secret })
    t.equal(problems.length, 1, secret)
    t.match(problems[0], /^JWT_SECRET: in production must be 32 or more random bytes, base64 or hex encoded: generate one with openssl rand -base64 32/, secret)
    t.notMatch(problems[0], secret, 'the value is never echoed')
  }
})

// Failed before: both passed isRandomSecret (32+ bytes, 16+ different ones, mixed text), yet neither
// is random: a counting sequence, and a typed phrase put through base64 (echo -n ... | base64).
t.test('attack: an encoded counting sequence or an encoded typed phrase is refused as a production JWT_SECRET', async (t) => {
  const weak = [Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex'),
    Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 5) % 256)).toString('base64'),
    Buffer.from('Our company JWT secret phrase, 2024!').toString('base64'),
    Buffer.from('correct horse battery staple, really quite long').toString('base64url')]
  for (const secret of weak) {
    t.equal(isRandomSecret(secret), false, secret)
    t.match(problemsOf({ ...production, JWT_SECRET: secret })[0], /^JWT_SECRET: in production must be 32 or more random bytes/, secret)
  }
})

t.test('what openssl rand -base64 32 / -hex 32 print starts in production', async (t) => {
  for (let i = 0; i < 200; i++) {
    const bytes = randomBytes(32 + (i % 3) * 16)
    for (const secret of [bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url')]) {
      t.equal(isRandomSecret(secret), true, secret)
    }
  }
  const config = parseConfig({ ...production, JWT_SECRET: randomBytes(32).toString('base64') })
  t.equal(config.jwt.keys?.algorithm, 'HS256')
  t.equal(problemsOf({ ...production, JWT_PRIVATE_KEY: generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }).length, 0, 'an Ed25519 key, the recommendation')
})

t.test('base64 that is not the canonical encoding of its bytes, or too few bytes, is not a secret', async (t) => {
  const bytes = randomBytes(32)
  t.equal(isRandomSecret(bytes.toString('base64').replace(/=$/, '')), true, 'padding may be left out')
  t.equal(isRandomSecret(bytes.subarray(0, 31).toString('base64')), false, '31 bytes')
  t.equal(isRandomSecret(`${bytes.toString('base64')}!`), false, 'not base64')
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const text = bytes.toString('base64url')
  // 32 bytes leave 2 bits in the 43rd character, the other 4 zero: set one of those.
  const dirty = text.slice(0, 42) + alphabet[alphabet.indexOf(text[42]!) | 1]!
  t.equal(isRandomSecret(dirty), false, 'trailing bits set: not what an encoder writes')
})

t.test('development keeps the lenient check, so a phrase still runs the service locally', async (t) => {
  t.same(problemsOf({ JWT_SECRET: 'my-super-secret-jwt-key-for-production' }), [])
  t.match(problemsOf({ JWT_SECRET: 'a'.repeat(32) })[0], /^JWT_SECRET: must be random/)
})

t.test('attack: a typed passphrase or a counting sequence, merely encoded, is refused in production', async (t) => {
  // Failed before the fix: all six started in production (isRandomSecret true).
  const counting = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
  const weak = [
    Buffer.from('correct horse battery staple, my jwt secret!!').toString('base64'), // echo ... | base64
    Buffer.from('ThisIsMyVerySecretJwtSigningKey2026!').toString('base64'),
    Buffer.from('my-super-secret-jwt-key-for-prod').toString('hex'), // echo ... | xxd -p
    counting.toString('hex'),
    counting.toString('base64'),
    'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/' // the base64 alphabet itself
  ]
  for (const secret of weak) {
    t.equal(isRandomSecret(secret), false, secret)
    t.match(problemsOf({ ...production, JWT_SECRET: secret })[0], /^JWT_SECRET: in production must be 32 or more random bytes/, secret)
  }
})
