// tsc writes one CommonJS file; it ships twice: dist/index.cjs for Node's
// require, and miniprogram_dist/index.js for WeChat DevTools' "build npm".
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'

const here = new URL('..', import.meta.url)
const built = new URL('build/cjs/index.js', here)
mkdirSync(new URL('miniprogram_dist/', here), { recursive: true })
copyFileSync(built, new URL('dist/index.cjs', here))
copyFileSync(built, new URL('miniprogram_dist/index.js', here))
rmSync(new URL('build/', here), { recursive: true, force: true })
