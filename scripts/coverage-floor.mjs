import { readFileSync } from 'node:fs'

// The coverage floor (issue 13): `npm test` fails when line or branch coverage of
// the source falls below it, so untested code cannot land. Measured by tap over
// every test file (.tap/report/coverage-summary.json, written by the
// json-summary report). Build outputs (client/dist, client/miniprogram_dist: the
// same code as client/src, loaded by the artifact tests) are not counted.
// Raise the floor when coverage rises; never lower it to make a change pass.
const FLOOR = { lines: 98.3, branches: 93.3 }
// What a complete measurement instruments (lines, branches) when the floor was set.
// tap's merge of the per-process V8 coverage is sometimes incomplete: in one of
// three CI runs of one commit it saw 890 of ~1808 branches (and `tap report`
// on the same data gave yet another figure). A measurement that instruments far
// less than this did not see the code; it is reported and not judged. New code
// only raises these counts; after deleting much code, lower them here.
const COMPLETE = { lines: 6909, branches: 1808 }

const summary = JSON.parse(readFileSync('.tap/report/coverage-summary.json', 'utf8'))
const built = /\/client\/(dist|miniprogram_dist)\//
const totals = { lines: { total: 0, covered: 0 }, branches: { total: 0, covered: 0 } }
for (const [file, entry] of Object.entries(summary)) {
  if (file === 'total' || built.test(file)) continue
  for (const key of Object.keys(totals)) {
    totals[key].total += entry[key].total
    totals[key].covered += entry[key].covered
  }
}
const incomplete = Object.entries(COMPLETE).filter(([key, total]) => totals[key].total < 0.9 * total)
if (incomplete.length > 0) {
  process.stdout.write(`coverage measurement incomplete (${incomplete.map(([key, total]) => `${key}: ${totals[key].total} instrumented, expected about ${total}`).join('; ')}): not judged against the floor\n`)
  process.exit(0)
}
let failed = false
for (const [key, floor] of Object.entries(FLOOR)) {
  const pct = Math.floor((10_000 * totals[key].covered) / Math.max(1, totals[key].total)) / 100
  const ok = pct >= floor
  failed ||= !ok
  process.stdout.write(`coverage ${key}: ${pct}% (${totals[key].covered}/${totals[key].total}), floor ${floor}%: ${ok ? 'ok' : 'BELOW THE FLOOR'}\n`)
}
if (failed) {
  process.stdout.write('coverage fell below the floor: add tests for the new code (scripts/coverage-floor.mjs)\n')
  process.exitCode = 1
}
