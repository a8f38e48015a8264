/**
 * Runs one call per key at a time: callers arriving while it runs share its
 * promise. A success is also remembered for `rememberMs`, so a caller arriving
 * just after (a client retry) gets the same result instead of a second call.
 */
export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>()
  private readonly done = new Map<string, { value: T, until: number }>()

  constructor (private readonly rememberMs = 0, private readonly maxRemembered = 10_000, private readonly now: () => number = Date.now) {}

  run (key: string, fn: () => Promise<T>): Promise<T> {
    const remembered = this.done.get(key)
    if (remembered !== undefined && remembered.until > this.now()) return Promise.resolve(remembered.value)
    const running = this.inFlight.get(key)
    if (running !== undefined) return running
    const promise = fn().then((value) => {
      this.remember(key, value)
      return value
    }).finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, promise)
    return promise
  }

  private remember (key: string, value: T): void {
    if (this.rememberMs <= 0) return
    const now = this.now()
    // Entries share one lifetime, so insertion order is expiry order.
    for (const [k, entry] of this.done) {
      if (entry.until > now && this.done.size < this.maxRemembered) break
      this.done.delete(k)
    }
    this.done.set(key, { value, until: now + this.rememberMs })
  }
}
