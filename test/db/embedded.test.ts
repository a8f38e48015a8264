import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import t from 'tap'
import { embeddedInfoFile, startEmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'

t.test('the embedded database migrates, keeps 4-byte UTF-8, and keeps its data across restarts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weapp-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  const first = await startEmbeddedDatabase(dir)
  t.same(JSON.parse(await readFile(embeddedInfoFile(dir), 'utf8')).url, first.url, 'advertises its URL for npm run studio')
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
