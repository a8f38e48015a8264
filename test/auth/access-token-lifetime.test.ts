import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { build } from '../helper.js'
import { bearer, login, refresh, type LoginBody } from '../helpers/auth.js'

// An access token is verified by its signature alone on /v1/auth/session and by
// the team's APIs through the JWKS: its exp is all that ends it there. A
// session ends at SESSION_MAX_AGE after its creation; a token must not outlive it.

const CLOCK_TOLERANCE_S = 5 // what every verifier of ours grants (src/plugins/auth.ts)

const claimsOf = (token: string): { iat: number, exp: number } => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString())

t.test('attack: tokens issued near the session cap expire with the session, on login and on refresh', async (t) => {
  const { app, fake, prisma } = await build(t)
  // Every session from now on reaches its cap 3 s after it opens (as with SESSION_MAX_AGE=3s, below the 1m the config allows),
  // its first refresh token capped with it, as the login statement caps it at the session's end.
  await prisma.$executeRawUnsafe(`CREATE FUNCTION near_cap() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.expires_at := now() + interval '3 seconds';
    NEW.refresh_expires_at := LEAST(NEW.refresh_expires_at, NEW.expires_at); RETURN NEW; END $$`)
  await prisma.$executeRawUnsafe('CREATE TRIGGER near_cap BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION near_cap()')

  const alice = await login(app, fake, 'alice')
  const refreshed = await refresh(app, alice.refreshToken)
  t.equal(refreshed.statusCode, 200)
  const pair = refreshed.json<LoginBody>()
  const [session] = await prisma.$queryRaw<{ cap: Date }[]>`SELECT expires_at AS cap FROM sessions WHERE user_id = ${alice.user.id}::uuid`
  const cap = Math.floor(session!.cap.getTime() / 1000)

  // Failed on 347a147: exp was iat + 900 (ACCESS_TOKEN_TTL), 897 s past the cap; expiresIn 900.
  for (const [name, body] of [['login', alice], ['refresh', pair]] as const) {
    const { iat, exp } = claimsOf(body.accessToken)
    t.ok(exp <= cap, `${name}: exp ${exp} is not past the session's end ${cap}`)
    t.equal(body.expiresIn, exp - iat, `${name}: expiresIn agrees with the token`)
    t.ok(body.refreshExpiresIn <= 3, `${name}: nor does the refresh token outlive it`)
  }

  await sleep(Math.max(0, (cap + CLOCK_TOLERANCE_S + 1) * 1000 - Date.now()))
  for (const body of [alice, pair]) {
    const res = await app.inject({ method: 'GET', url: '/v1/auth/session', headers: bearer(body.accessToken) })
    t.match({ status: res.statusCode, ...res.json() }, { status: 401, code: 'ACCESS_TOKEN_EXPIRED' }, 'the signature-only route refuses it after the cap')
  }
  t.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(pair.accessToken) })).statusCode, 401)
})

t.test('far from the cap a token lives ACCESS_TOKEN_TTL, and says so', async (t) => {
  const { app, fake } = await build(t, { env: { ACCESS_TOKEN_TTL: '2m' } })
  const alice = await login(app, fake, 'alice')
  const { iat, exp } = claimsOf(alice.accessToken)
  t.equal(exp - iat, 120)
  t.equal(alice.expiresIn, 120)
  const pair = (await refresh(app, alice.refreshToken)).json<LoginBody>()
  t.equal(pair.expiresIn, 120)
  t.equal(claimsOf(pair.accessToken).exp - claimsOf(pair.accessToken).iat, 120)
})
