import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { runningEmbeddedUrl, startEmbeddedDatabase } from '../../src/db/embedded.js'
import { migrate } from '../../src/db/migrate.js'
import { spawnListening } from '../../src/dev/spawn.js'
import { APP, build, startFakeWechat, type Built } from '../helper.js'
import { bearer, login } from '../helpers/auth.js'

// Prisma Studio, as an admin opens it with `npm run studio`, in a real browser:
// on PostgreSQL, on the embedded database while the service runs, and on the
// embedded data with the service stopped. Each time the admin finds the user
// by openid and by phone and ends a session in the grid; the service must see it.

const CHROMIUM = '/usr/bin/chromium'
const STUDIO = new URL('../../dist/cli/studio.js', import.meta.url).pathname
/** Screenshots of the last run, kept for people to look at. */
const SCREENSHOTS = join(tmpdir(), 'weapp-auth-studio')

// Three Studio starts (6 to 12 s each on 2 cores) and a browser, beside other test files.
t.setTimeout(300_000)

const chromiumMissing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: apt-get install -y chromium (.ci/run installs it)`
if (chromiumMissing !== undefined && process.env.CI === 'true') t.fail(chromiumMissing)
const skip = chromiumMissing ?? false

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** `npm run studio` (after the build) with this environment; stopped, and waited for, when the test ends. */
async function startStudio (t: Test, env: Record<string, string>): Promise<{ url: string, pid: number, stop: () => Promise<void> }> {
  const { DATABASE_URL: _, ...inherited } = process.env
  const { child, url } = await spawnListening(STUDIO, { ...inherited, ...env, STUDIO_PORT: String(await freePort()) }, /Prisma Studio is running at:[^h]*(http:\/\/localhost:\d+)/)
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
  }
  t.teardown(stop)
  return { url, pid: child.pid!, stop }
}

async function openBrowser (t: Test): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'weapp-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

interface Seeded { userId: string, openid: string, phone: string, sessionId: string, accessToken: string }

/** A mini-program user with a phone number and one session, through the service's own routes. */
async function seed ({ app, fake, prisma }: Built, name: string, phone: string): Promise<Seeded> {
  const { user, accessToken } = await login(app, fake, name)
  const stored = await app.inject({
    method: 'POST',
    url: '/v1/auth/phone',
    headers: bearer(accessToken),
    payload: { code: fake.phoneCode(APP.appid, { phoneNumber: `+86 ${phone}`, purePhoneNumber: phone, countryCode: '86' }) }
  })
  if (stored.statusCode !== 200) throw new Error(`phone: ${stored.statusCode} ${stored.body}`)
  const [row] = await prisma.$queryRaw<{ openid: string, session_id: string }[]>`
    SELECT i.subject AS openid, s.id::text AS session_id FROM identities i JOIN sessions s ON s.identity_id = i.id
    WHERE i.user_id = ${user.id}::uuid ORDER BY s.created_at DESC LIMIT 1`
  return { userId: user.id, openid: row!.openid, phone, sessionId: row!.session_id, accessToken }
}

/** The grid row with a cell that starts with this text (a foreign key's cell also holds its link). */
const rowWith = (page: Page, text: string) => page.getByRole('row').filter({ has: page.getByRole('cell', { name: text }) })

async function openTable (page: Page, studio: string, table: string): Promise<void> {
  await page.goto(`${studio}/#table=${table}&schema=public&view=table`)
  await page.getByRole('navigation', { name: 'Tables' }).getByRole('link', { name: table, exact: true }).waitFor()
}

/** Studio's search box matches any column; it applies (and enters the URL) a moment after typing stops. */
async function search (page: Page, text: string): Promise<void> {
  // A click landing while the table still renders can leave the box closed, or
  // the text typed before the box listens: open, type, and check the URL took it.
  const applied = (url: URL) => url.hash.includes(`search=${encodeURIComponent(text)}`)
  const box = page.getByRole('textbox', { name: 'Global search' })
  for (let attempt = 1; ; attempt++) {
    try {
      if (!await box.isVisible()) await page.getByRole('button', { name: 'Global search' }).click({ timeout: 5000 })
      await box.fill(text, { timeout: 5000 })
      await page.waitForURL(applied, { timeout: 5000 })
      return
    } catch (error) {
      if (attempt === 3) throw error
    }
  }
}

/**
 * The recipes of docs/operations.md, as an admin does them: the user by openid, the user by
 * phone, then their session ended by setting revoked_at and revoked_reason.
 * `others` are users the searches must leave out.
 */
async function adminEndsSession (t: Test, page: Page, studio: string, who: Seeded, others: Seeded[], name: string): Promise<void> {
  const leftOut = async (column: keyof Seeded): Promise<void> => {
    for (const other of others) await rowWith(page, other[column]).waitFor({ state: 'detached' })
  }
  try {
    await openTable(page, studio, 'identities')
    await search(page, who.openid)
    await rowWith(page, who.openid).getByRole('link', { name: 'Open users' }).click()
    await rowWith(page, who.userId).waitFor()
    t.pass('by openid: the identity row links to its user')

    await openTable(page, studio, 'users')
    await search(page, who.phone)
    await rowWith(page, who.userId).waitFor()
    await leftOut('userId')
    t.pass('by phone: the user row, and no other')
    await screenshot(page, `${name}-users`)

    await openTable(page, studio, 'sessions')
    await search(page, who.userId)
    const session = rowWith(page, who.sessionId)
    await session.waitFor()
    await leftOut('sessionId')
    // The recipe narrows to the session's own id before editing: rows come unordered, and with two
    // sessions of the user listed the edits once landed on two rows (the embedded database, 1 in 1).
    await search(page, who.sessionId)
    await session.waitFor()
    // Studio orders columns by name and renders only those in view: scroll right to revoked_at,
    // which scrolls the id column out; cells are then found by the row's index in the grid.
    const row = (await session.locator('td[data-grid-column-id="id"]').getAttribute('data-grid-row-index'))!
    // The grid can drop the search and re-order its rows between two edits (CI): each cell is
    // found in the row whose user_id, in view beside revoked_at, is this user's, not by a kept index.
    const cellOf = async (column: string): Promise<Locator> => {
      await revealColumn(page, row, 'user_id')
      const owner = page.locator('td[data-grid-column-id="user_id"]').filter({ hasText: who.userId }).first()
      return await revealColumn(page, (await owner.getAttribute('data-grid-row-index'))!, column)
    }
    await editAndSave(page, cellOf, 'revoked', 'admin')
    await (await cellOf('revoked_reason')).getByText('admin', { exact: true }).waitFor()
    t.pass('the session shows as revoked by an admin')
  } finally {
    await screenshot(page, `${name}-sessions`)
  }
}

/** docs/operations.md's ban recipe: set the user's disabled_at (and a reason) in Studio. */
async function adminBans (t: Test, page: Page, studio: string, who: Seeded, name: string): Promise<void> {
  try {
    // A fresh page: a hash change alone keeps the last table's search box open over its button.
    await page.goto('about:blank')
    await openTable(page, studio, 'users')
    await search(page, who.phone)
    await rowWith(page, who.userId).waitFor()
    // The one row the search left. Located by column, not by its id: the grid renders only the
    // columns in view, and editing disabled_at scrolls the id column out.
    const cell = (column: string) => page.locator(`td[data-grid-column-id="${column}"]`)
    t.equal(await cell('disabled_at').count(), 1, 'the search left one user')
    await editAndSave(page, async (column) => cell(column), 'disabled', 'spam')
    await cell('disabled_reason').getByText('spam', { exact: true }).waitFor()
    t.pass('the user shows as disabled')
  } finally {
    await screenshot(page, `${name}-ban`)
  }
}

/**
 * Sets `<prefix>_at` to now and `<prefix>_reason` to `reason` in one grid row, then saves.
 * Under load a double-click can land while the grid re-renders and open no editor, and the
 * keys typed next go nowhere (no "Save 1 row", CI, 1 run in 3): the edit is made again.
 */
async function editAndSave (page: Page, cell: (column: string) => Promise<Locator>, prefix: string, reason: string): Promise<void> {
  const save = page.getByRole('button', { name: 'Save 1 row' })
  for (let attempt = 1; ; attempt++) {
    try {
      await (await cell(`${prefix}_at`)).dblclick()
      await page.getByPlaceholder('YYYY-MM-DD HH:mm:ss.SSSZZ').fill(new Date().toISOString().replace('T', ' ').replace('Z', '+00:00'), { timeout: 10_000 })
      await page.keyboard.press('Enter')
      await (await cell(`${prefix}_reason`)).dblclick()
      await page.keyboard.type(reason)
      await page.keyboard.press('Enter')
      await (await cell(`${prefix}_reason`)).getByText(reason, { exact: true }).waitFor({ timeout: 10_000 })
      await save.waitFor({ timeout: 10_000 })
      break
    } catch (error) {
      if (attempt === 3) throw error
      await page.keyboard.press('Escape')
    }
  }
  await save.click()
  await page.getByRole('button', { name: 'yes, write to db' }).click()
  await save.waitFor({ state: 'detached' })
}

async function loginRefused (t: Test, { app, fake }: Built, user: string): Promise<void> {
  const { code } = fake.login(APP.appid, user)
  const res = await app.inject({ method: 'POST', url: '/v1/auth/login', payload: { code } })
  t.equal(res.statusCode, 403, 'a new login of the banned user: 403')
  t.equal(res.json().code, 'USER_DISABLED')
}

/** Scrolls the grid right until `column` is rendered (the grid renders only the columns in view). */
async function revealColumn (page: Page, row: string, column: string): Promise<Locator> {
  const cell = page.locator(`td[data-grid-row-index="${row}"][data-grid-column-id="${column}"]`)
  for (let i = 0; i < 30 && await cell.count() === 0; i++) {
    // Every horizontally scrollable element, 300 px further right (a string: this project's types have no DOM).
    await page.evaluate(`for (const el of document.querySelectorAll('*'))
      if (el.scrollWidth > el.clientWidth + 10 && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)) el.scrollLeft += 300`)
    await page.waitForTimeout(100)
  }
  return cell
}

async function screenshot (page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) })
}

async function tablesListed (t: Test, page: Page, studio: string): Promise<void> {
  await openTable(page, studio, 'users')
  const tables = page.getByRole('navigation', { name: 'Tables' })
  for (const table of ['users', 'sessions', 'identities', 'refresh_tokens', 'auth_events']) {
    t.ok(await tables.getByRole('link', { name: table, exact: true }).isVisible(), `lists ${table}`)
  }
}

async function sessionRefused (t: Test, { app }: Built, who: Seeded): Promise<void> {
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: bearer(who.accessToken) })
  t.equal(me.statusCode, 401, 'GET /v1/me with its access token: 401')
  t.equal(me.json().code, 'SESSION_REVOKED', 'the service sees the session Studio ended')
}

t.test('Studio on PostgreSQL: find a user by openid and phone, end their session, ban them', { skip }, async (t) => {
  const built = await build(t)
  if (built.testDb.embedded) t.comment('no PostgreSQL server reachable: this runs on the embedded fallback too')
  const alice = await seed(built, 'alice', '13800138000')
  const studio = await startStudio(t, { DATABASE_URL: built.testDb.url })
  const page = (await openBrowser(t)).pages()[0]!
  await tablesListed(t, page, studio.url)
  await adminEndsSession(t, page, studio.url, alice, [], 'postgres')
  await sessionRefused(t, built, alice)
  await adminBans(t, page, studio.url, alice, 'postgres')
  await loginRefused(t, built, 'alice')
  // The audit trail, in Studio: the refused login is there.
  await built.app.audit.flush()
  await page.goto('about:blank')
  await openTable(page, studio.url, 'auth_events')
  await search(page, 'USER_DISABLED')
  await page.locator('td[data-grid-column-id="outcome"]').getByText('USER_DISABLED', { exact: true }).waitFor()
  t.pass('auth_events shows the refused login')
  await screenshot(page, 'postgres-audit')
})

t.test('Studio on the embedded database, with the service running and then stopped', { skip }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-studio-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const fake = await startFakeWechat(t)
  const page = (await openBrowser(t)).pages()[0]!

  // The service running: this process holds the embedded database, Studio joins it.
  const running = await startEmbeddedDatabase(dataDir)
  t.teardown(running.stop)
  await migrate(running.url)
  const service = await build(t, { testDb: { url: running.url, embedded: true }, fake })
  const alice = await seed(service, 'alice', '13800138000')
  const bob = await seed(service, 'bob', '13900139000')
  const joined = await startStudio(t, { DATA_DIR: dataDir })
  t.equal((await runningEmbeddedUrl(dataDir))?.pid, process.pid, 'Studio joined the running database instead of opening the data')
  await tablesListed(t, page, joined.url)
  await adminEndsSession(t, page, joined.url, alice, [bob], 'embedded-service-running')
  await sessionRefused(t, service, alice)
  await joined.stop()
  await service.app.close()
  await running.stop()

  // The service stopped: Studio opens the data itself; its edit is on disk when it exits.
  const alone = await startStudio(t, { DATA_DIR: dataDir })
  t.equal((await runningEmbeddedUrl(dataDir))?.pid, alone.pid, 'Studio opened the embedded data itself')
  await adminEndsSession(t, page, alone.url, bob, [alice], 'embedded-service-stopped')
  await page.goto('about:blank')
  await alone.stop()

  const reopened = await startEmbeddedDatabase(dataDir)
  t.teardown(reopened.stop)
  const restarted = await build(t, { testDb: { url: reopened.url, embedded: true }, fake })
  await sessionRefused(t, restarted, bob)
  await sessionRefused(t, restarted, alice)
})

// Measured: while `npm run studio` runs, POST /bff on 127.0.0.1:STUDIO_PORT runs any SQL as the
// superuser for any local user, with no password: the embedded database's password gate (and a
// PostgreSQL password) is gone around. Prisma Studio (7.10) checks the Origin header, so a web
// page cannot do it (CSRF), but has no authentication and no option for one. Not fixed here: a fix
// is a gate of Studio's own (an authenticating proxy, with Studio on a socket no other user can
// reach), more than a small change.
const NO_STUDIO_AUTH = 'not fixed: Prisma Studio has no authentication, POST /bff on loopback runs any SQL for any local user'
t.test('attack: while npm run studio runs, another local user cannot run SQL through it without a password', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'weapp-studio-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const studio = await startStudio(t, { DATA_DIR: dataDir })
  const answer = await fetch(new URL('/bff', studio.url), {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ procedure: 'query', query: { sql: 'SELECT current_user AS who', parameters: [] } })
  })
  const text = await answer.text()
  t.not(answer.status, 200, `refused without a credential (got ${answer.status}: ${text.slice(0, 80)})`, { todo: NO_STUDIO_AUTH })
  t.notMatch(text, /postgres/, 'no query ran', { todo: NO_STUDIO_AUTH })
  const crossSite = await fetch(new URL('/bff', studio.url), {
    method: 'POST',
    headers: { 'content-type': 'text/plain', origin: 'http://evil.example' },
    body: JSON.stringify({ procedure: 'query', query: { sql: 'SELECT 1', parameters: [] } })
  })
  t.equal(crossSite.status, 403, 'a web page\'s request (another Origin) is refused: Studio checks it')
})
