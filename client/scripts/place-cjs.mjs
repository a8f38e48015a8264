// tsc writes one CommonJS file; it ships twice: dist/index.cjs for Node's
// require, and miniprogram_dist/index.js for WeChat DevTools' "build npm".
// The package is "type": "module", so miniprogram_dist carries its own
// package.json saying CommonJS: Node's require() (jest, a Node test) reads it.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'

const here = new URL('..', import.meta.url)
const built = new URL('build/cjs/index.js', here)
mkdirSync(new URL('miniprogram_dist/', here), { recursive: true })
copyFileSync(built, new URL('dist/index.cjs', here))
copyFileSync(built, new URL('miniprogram_dist/index.js', here))
writeFileSync(new URL('miniprogram_dist/package.json', here), '{ "type": "commonjs" }\n')
rmSync(new URL('build/', here), { recursive: true, force: true })
