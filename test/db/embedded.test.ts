import { once } from 'node:events'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import postgres from 'postgres'
import t from 'tap'
import { openDatabase } from '../../src/db/database.js'
import { embeddedInfoFile, embeddedPasswordFile, runningEmbeddedUrl, startEmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { startPasswordGate } from '../../src/db/password-gate.js'
import { STATEMENTS } from '../../src/db/statements.js'
import '../../src/sessions/repository.js'

t.test('the embedded database migrates, keeps 4-byte UTF-8, and keeps its data across restarts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  const first = await startEmbeddedDatabase(dir)
  t.same((await runningEmbeddedUrl(dir))?.url, first.url, 'advertises its URL for npm run studio')
  t.ok((await migrate(first.url)).applied.length > 0)
  const client = new pg.Client({ connectionString: first.url })
  await client.connect()
  await client.query('INSERT INTO users (nickname) VALUES ($1)', ['小明 🐼👨‍👩‍👧'])
  await client.end()
  await first.stop()
  await t.rejects(readFile(embeddedInfoFile(dir)), { code: 'ENOENT' }, 'the advert is removed on stop')

  const second = await startEmbeddedDatabase(dir)
  t.teardown(() => second.stop())
  t.same((await migrate(second.url)).applied, [], 'already migrated')
  const again = new pg.Client({ connectionString: second.url })
  await again.connect()
  const { rows } = await again.query('SELECT nickname FROM users')
  await again.end()
  t.same(rows, [{ nickname: '小明 🐼👨‍👩‍👧' }])
})

/** A bare wire-protocol client: logs in with the password, then sends what it is told. */
async function rawClient (url: string): Promise<{ send: (...messages: Buffer[]) => Promise<Buffer>, destroy: () => void }> {
  const { hostname, port, password } = new URL(url)
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  const send = async (...messages: Buffer[]): Promise<Buffer> => {
    socket.write(Buffer.concat(messages))
    const [reply] = await once(socket, 'data') as [Buffer]
    return reply
  }
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0')
  const startup = Buffer.alloc(8)
  startup.writeInt32BE(8 + params.length, 0)
  startup.writeInt32BE(196608, 4)
  await send(startup, params)
  // Read up to ReadyForQuery, however the answer to the password is split.
  socket.write(message('p', Buffer.from(`${password}\0`)))
  let answer = Buffer.alloc(0)
  while (!answer.subarray(-6).equals(Buffer.from('Z\0\0\0\x05I', 'latin1'))) answer = Buffer.concat([answer, (await once(socket, 'data') as [Buffer])[0]])
  return { send, destroy: () => socket.destroy() }
}

function message (type: string, body = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5)
  header.write(type, 0)
  header.writeInt32BE(4 + body.length, 1)
  return Buffer.concat([header, body])
}

t.test('attack: the embedded database socket refuses a client without the password kept in DATA_DIR', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = await startEmbeddedDatabase(dir)
  t.teardown(db.stop)
  const { hostname, port } = new URL(db.url)
  const connectWith = async (password: string): Promise<string> => {
    const client = new pg.Client({ host: hostname, port: Number(port), user: 'postgres', database: 'postgres', password })
    client.on('error', () => {})
    try {
      await client.connect()
      return (await client.query<{ who: string }>('SELECT current_user AS who')).rows[0]!.who
    } catch (error) {
      return (error as { code?: string }).code ?? (error as Error).message
    } finally {
      await client.end().catch(() => {})
    }
  }

  // A client that sends no password is asked for one and never reaches a query.
  const socket = connect(Number(port), hostname)
  await once(socket, 'connect')
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0')
  const startup = Buffer.alloc(8)
  startup.writeInt32BE(8 + params.length, 0)
  startup.writeInt32BE(196608, 4)
  socket.write(Buffer.concat([startup, params]))
  const [asked] = await once(socket, 'data') as [Buffer]
  t.same([String.fromCharCode(asked[0]!), asked.readInt32BE(5)], ['R', 3], 'the startup is answered with a password request, not AuthenticationOk')
  socket.write(message('Q', Buffer.from('SELECT 1\0')))
  const [refused] = await once(socket, 'data') as [Buffer]
  t.equal(String.fromCharCode(refused[0]!), 'E', 'a query instead of the password: an error')
  t.match(refused.toString('latin1'), /28P01/)
  socket.destroy()

  t.equal(await connectWith(''), '28P01', 'an empty password: refused')
  t.equal(await connectWith('postgres'), '28P01', 'the usual default password: refused')
  const file = embeddedPasswordFile(dir)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'the password is readable by its owner only')
  const password = (await readFile(file, 'utf8')).trim()
  t.match(password, /^[0-9a-f]{64}$/, '256 random bits')
  t.equal(await connectWith(password.slice(0, -1) + (password.endsWith('0') ? '1' : '0')), '28P01', 'one character off: refused')
  t.equal(await connectWith(password), 'postgres', 'the right password: connected')
  t.ok(db.url.includes(password), 'the service\'s own URL carries it')
})

// Failed before: DATA_DIR/pglite was 0755 and PGlite writes its files 0666, so another local user
// read (or rewrote) every table straight from disk, whatever the socket's password.
t.test('attack: another local user cannot read the embedded database\'s files around the password', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = await startEmbeddedDatabase(dir)
  t.teardown(db.stop)
  t.equal((await stat(join(dir, 'pglite'))).mode & 0o077, 0, 'the data directory is its owner\'s only')
  await db.stop()
  await chmod(join(dir, 'pglite'), 0o755)
  const again = await startEmbeddedDatabase(dir)
  t.teardown(again.stop)
  t.equal((await stat(join(dir, 'pglite'))).mode & 0o077, 0, 'data an earlier version left open is closed on the next start')
})

/** An SSLRequest: a client may send it before its startup, and the gate answers it with 'N'. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])

// Failed before: the gate refused at accept past 32 connections (server.maxConnections), so 32
// sockets that never gave a password (any local user can open them, no password needed) kept
// the service's own pool, Studio and the migrator from ever connecting: ECONNRESET.
t.test('attack: clients that never give the password cannot lock the service out of the embedded database', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = await startEmbeddedDatabase(dir)
  t.teardown(db.stop)
  const { hostname, port } = new URL(db.url)
  const holders = await Promise.all(Array.from({ length: 40 }, async () => {
    const socket = connect(Number(port), hostname)
    socket.on('error', () => {})
    await once(socket, 'connect')
    socket.write(SSL_REQUEST)
    return socket
  }))
  t.teardown(() => { for (const socket of holders) socket.destroy() })
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (let attempt = 0; attempt < 3; attempt++) {
    const client = new pg.Client({ connectionString: db.url })
    client.on('error', () => {})
    const answer = await client.connect().then(async () => (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, (error: Error) => error.message)
    await client.end().catch(() => {})
    t.equal(answer, 1, `the service connects past 40 idle handshakes (attempt ${attempt + 1})`)
  }
})

// Failed before: the handshake timeout was an idle one (socket.setTimeout), so an SSLRequest
// every few seconds held a place at the gate for as long as the client liked.
t.test('attack: a client trickling bytes is cut at the gate\'s handshake deadline', async (t) => {
  const gate = await startPasswordGate({ password: 'x'.repeat(64), backendPath: join(tmpdir(), 'no-such-backend'), host: '127.0.0.1', port: 0, maxConnections: 4, handshakeTimeoutMs: 300 })
  t.teardown(gate.close)
  const socket = connect(gate.port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  const trickle = setInterval(() => { if (socket.writable) socket.write(SSL_REQUEST, () => {}) }, 100)
  socket.on('close', () => clearInterval(trickle))
  t.teardown(() => { clearInterval(trickle); socket.destroy() })
  const closed = await Promise.race([new Promise((resolve) => socket.on('close', () => resolve(true))), new Promise((resolve) => setTimeout(resolve, 1500, false))])
  t.equal(closed, true, 'closed within 1.5 s of a 300 ms deadline, though never idle for 100 ms')
})

t.test('concurrent clients on the embedded database each get their extended-query exchanges whole', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const db = await startEmbeddedDatabase(dir)
  t.teardown(db.stop)
  // postgres.js, Prisma Studio's driver: a query with parameters is Parse/Describe/Flush,
  // then Bind/Execute/Sync once the types are known; one without is a simple Query.
  const sql = postgres(db.url, { max: 4, onnotice: () => {} })
  t.teardown(() => sql.end())
  await Promise.all([sql.unsafe('SELECT 1'), sql.unsafe('SELECT 2')])
  for (let i = 0; i < 10; i++) {
    const [withParameters, simple] = await Promise.all([sql.unsafe('SELECT $1::text AS v', [`q${i}`]), sql.unsafe('SELECT 1 AS one')])
    t.same([withParameters[0], simple[0]], [{ v: `q${i}` }, { one: 1 }], `round ${i}`)
  }

  // A client that leaves in the middle of an exchange does not keep the session.
  const leaver = await rawClient(db.url)
  const parsed = await leaver.send(message('P', Buffer.from('\0SELECT 1\0\0\0')), message('H'))
  t.equal(String.fromCharCode(parsed[0]!), '1', 'ParseComplete')
  leaver.destroy()
  t.same((await sql.unsafe('SELECT 2 AS two'))[0], { two: 2 })
  const after = await Promise.all([sql.unsafe('SELECT $1::int AS n', [7]), sql.unsafe('SELECT 3 AS three'), sql.unsafe('SELECT 4 AS four')])
  t.same(after.map((rows) => rows[0]), [{ n: 7 }, { three: 3 }, { four: 4 }], 'the others go on')
})

t.test('the embedded data is refused while another live process has it open', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(embeddedInfoFile(dir), JSON.stringify({ url: 'postgresql://postgres@127.0.0.1:1/postgres', pid: process.ppid }))
  await t.rejects(startEmbeddedDatabase(dir), { message: `the embedded database in ${dir}/pglite is open in process ${process.ppid} (see ${embeddedInfoFile(dir)}): stop that npm start or npm run studio first, or set DATABASE_URL` })
  await writeFile(embeddedInfoFile(dir), JSON.stringify({ url: 'postgresql://postgres@127.0.0.1:1/postgres', pid: 2 ** 22 + 1 }))
  const db = await startEmbeddedDatabase(dir)
  t.teardown(db.stop)
  t.pass('an advert left by a process that is gone is ignored')
})

t.test('the request path\'s statements run unnamed on the embedded database: a named one outlives its connection there', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const embedded = await startEmbeddedDatabase(dir)
  t.teardown(() => embedded.stop())
  await migrate(embedded.url)
  const live = STATEMENTS.find((s) => s.name === 'sessions_live')!
  const sid = '00000000-0000-4000-8000-000000000000'

  // What the pool does after an idle connection closes: a new connection, the same statement.
  for (let i = 0; i < 2; i++) {
    const db = openDatabase({ url: embedded.url, poolSize: 1, namedStatements: false })
    t.same(await db.run(live, [sid]), [], `connection ${i + 1}`)
    await db.close()
  }
  // Named, the second connection finds the first one's statement still prepared in PGlite's one session.
  const first = openDatabase({ url: embedded.url, poolSize: 1 })
  await first.run(live, [sid])
  await first.close()
  const second = openDatabase({ url: embedded.url, poolSize: 1 })
  await t.rejects(second.run(live, [sid]), { code: '42P05' }, 'why they go unnamed there')
  await second.close()
})
