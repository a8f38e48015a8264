import { spawn, type ChildProcess } from 'node:child_process'

const LISTENING = /(?:Server listening at|listening) (http:\/\/[^"\s]+)/

/**
 * Starts a Node script (the service, the bench's bare Fastify, Prisma Studio)
 * and resolves with the URL it says it listens on (the first group of `ready`);
 * its stdout keeps being drained after.
 */
export async function spawnListening (
  script: string, env: NodeJS.ProcessEnv, ready = LISTENING
): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [script], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let seen = ''
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      seen += String(chunk)
      const match = ready.exec(seen)
      if (match === null) return
      child.stdout!.off('data', onData)
      child.stdout!.resume()
      resolve(match[1]!)
    }
    child.stdout!.on('data', onData)
    child.on('exit', (code) => reject(new Error(`${script} exited (${code}) before it listened:\n${seen}`)))
  })
  return { child, url }
}
