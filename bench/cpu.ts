import { readFileSync } from 'node:fs'

const TICK_US = 10_000 // USER_HZ is 100 on Linux: one tick of /proc/<pid>/stat is 10 ms.

/** CPU time (user + system) a process has used so far, in microseconds. */
export function cpuMicros (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_US
}

/** User and system CPU time of a process so far, in microseconds each. */
export function cpuSplitMicros (pid: number): { user: number, system: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return { user: Number(fields[11]) * TICK_US, system: Number(fields[12]) * TICK_US }
}
