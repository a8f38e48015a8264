import { ConfigError } from '../config/index.js'

/**
 * Runs a command-line entry point (npm run db:migrate, keys:reencrypt, studio,
 * demo...): its failure is one line on stderr and exit code 1, never a stack;
 * its result is the exit code.
 */
export function runCli (name: string, main: () => Promise<number | undefined>): void {
  main().then(
    (code) => { process.exitCode ??= code ?? 0 },
    (error: Error) => {
      process.stderr.write(`weapp-auth${name === '' ? '' : ` ${name}`}: ${error instanceof ConfigError ? error.message : error.message}\n`)
      process.exitCode = 1
    })
}
