import type { Test } from 'tap'
import { ConfigError, parseConfig } from '../../src/config/index.js'
import { build, type BuildOptions, type Built } from '../helper.js'

/** The problems parseConfig reports for an environment; none when it is accepted. */
export function problemsOf (env: Record<string, string>): string[] {
  try {
    parseConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) return error.problems
    throw error
  }
  return []
}

/** The app built with `options`, or undefined where the start refuses its configuration. */
export async function buildUnlessRefused (t: Test, options: BuildOptions): Promise<Built | undefined> {
  try {
    return await build(t, options)
  } catch (error) {
    if (error instanceof ConfigError) return undefined
    throw error
  }
}
