import { ConfigError, parseConfig } from '../../src/config.js'

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
