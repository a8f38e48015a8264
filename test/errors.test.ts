import { readFile } from 'node:fs/promises'
import t from 'tap'
import * as catalogue from '../src/errors.js'
import { ServiceError } from '../src/errors.js'

// The catalogue is the API contract: one class per code, each code once, each
// with the status docs/api.md's error table gives it, and nothing in that
// table that no class (or Fastify itself, FST_*) answers.

async function documentedStatuses (): Promise<Map<string, number>> {
  const text = await readFile(new URL('../docs/api.md', import.meta.url), 'utf8')
  const section = text.split('\n## Error codes\n')[1]!.split('\n## ')[0]!
  const statuses = new Map<string, number>()
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim())
    if (cells.length < 4 || !/^\d{3}$/.test(cells[2]!)) continue
    for (const [, code] of cells[1]!.matchAll(/`([A-Z0-9_]+)`/g)) statuses.set(code!, Number(cells[2]))
  }
  return statuses
}

t.test('every catalogue class has a code of its own and the status docs/api.md gives it', async (t) => {
  const documented = await documentedStatuses()
  const seen = new Map<string, string>()
  for (const [name, value] of Object.entries(catalogue)) {
    if (typeof value !== 'function' || !(value.prototype instanceof ServiceError)) continue
    // Built without its arguments: the code and status never depend on them.
    const error: unknown = Reflect.construct(value, [])
    if (!(error instanceof ServiceError)) { t.fail(`${name} builds no ServiceError`); continue }
    t.equal(error.name, name, `${name}: its name is its class's (the log's err.type)`)
    t.notOk(seen.has(error.code), `${error.code}: only ${name} has it${seen.has(error.code) ? ` (and ${seen.get(error.code)})` : ''}`)
    seen.set(error.code, name)
    t.equal(documented.get(error.code), error.statusCode, `${error.code}: ${error.statusCode} as docs/api.md says`)
  }
  t.ok(seen.size >= 30, `${seen.size} classes found`)
  for (const code of documented.keys()) {
    if (!code.startsWith('FST_')) t.ok(seen.has(code), `${code} in docs/api.md is answered by a catalogue class`)
  }
})

t.test('the retry headers: WeChat rate limits a minute, an overloaded WeChat 5 s, our limits their own window', async (t) => {
  t.same(new catalogue.WechatRateLimited().headers, { 'retry-after': '60' })
  t.same(new catalogue.WechatOverloaded().headers, { 'retry-after': '5' })
  t.same(new catalogue.RateLimited(17).headers, { 'retry-after': '17' })
  t.equal(new catalogue.RateLimited(17).message, 'rate limit exceeded: retry in 17 s')
  t.equal(new catalogue.SessionRevoked().headers, undefined, 'others send none')
})

t.test('about() names the subject of an error thrown without one, and keeps the rest', async (t) => {
  const error = new catalogue.SessionRevoked({ detail: { why: 'test' } })
  t.equal(error.about({ sessionId: 's1', userId: 'u1' }), error)
  t.same(error.subject, { sessionId: 's1', userId: 'u1' })
  t.same(error.detail, { why: 'test' })
  t.equal(error.revoked, undefined)
  t.equal(error.about({ sessionId: 's1' }, 'user_disabled').revoked, 'user_disabled', 'and the session it ended, when told')
})
