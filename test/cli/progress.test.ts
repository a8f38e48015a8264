import { PassThrough } from 'node:stream'
import t from 'tap'
import { Progress } from '../../src/cli/progress.js'

t.test('rewritten in place on a terminal, a plain line every few seconds elsewhere', async (t) => {
  let now = 0
  const capture = (tty: boolean) => {
    const out = Object.assign(new PassThrough(), { isTTY: tty }) as unknown as NodeJS.WriteStream & PassThrough
    let text = ''
    out.on('data', (chunk: Buffer) => { text += chunk.toString() })
    return { out, text: () => text }
  }
  const tty = capture(true)
  const bar = new Progress('rows', 4000, tty.out, () => now, 5000)
  now = 1000; bar.add(1000)
  now = 2000; bar.add(1000)
  bar.finish()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(tty.text(), '\rrows: 1000/4000 (25%), 1000/s\rrows: 2000/4000 (50%), 1000/s\rrows: 2000/4000 (50%), 1000/s\n')

  now = 0
  const plain = capture(false)
  const log = new Progress('rows', 3000, plain.out, () => now, 5000)
  for (let i = 1; i <= 3; i++) { now = i * 3000; log.add(1000) }
  log.finish()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(plain.text(), 'rows: 2000/3000 (66%), 333/s\nrows: 3000/3000 (100%), 333/s\n', 'a line at 6 s (5 s after the start), then the final one')
})
