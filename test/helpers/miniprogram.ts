import { readFile } from 'node:fs/promises'
import vm from 'node:vm'

/** A file of the repository, by its path from the root. */
export const repoFile = (path: string): Promise<string> => readFile(new URL(`../../${path}`, import.meta.url), 'utf8')

/**
 * Runs a CommonJS file as the mini-program's module system does, in a context
 * that holds only `globals` (no Node: no require unless given, no process).
 */
export function runCommonJs (
  code: string, filename: string, globals: Record<string, unknown>, context = vm.createContext({ ...globals })
): { exports: Record<string, any>, context: vm.Context } {
  const module = vm.runInContext('({ exports: {} })', context) as { exports: Record<string, any> }
  const factory = vm.runInContext(`(function (exports, module, require) {\n${code}\n})`, context, { filename }) as (exports: object, module: object, require: unknown) => void
  factory(module.exports, module, globals.require)
  return { exports: module.exports, context }
}
