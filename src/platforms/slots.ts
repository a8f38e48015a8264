/**
 * Bounds the calls to a platform: at most `size` on the wire at once (one pooled
 * connection each), at most `maxPending` admitted in all (on the wire plus
 * queued). Past that, callers are refused at once instead of joining a queue
 * whose wait would eat their deadline. A queued caller waits at most `waitMs`.
 */
export class Slots {
  private active = 0
  private readonly waiting = new Set<() => void>()

  constructor (private readonly size: number, private readonly maxPending: number, private readonly refuse: () => Error) {}

  get pending (): number {
    return this.active + this.waiting.size
  }

  async acquire (waitMs: number): Promise<() => void> {
    if (this.pending >= this.maxPending) throw this.refuse()
    if (this.active < this.size) {
      this.active++
      return this.releaser()
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(wake); reject(this.refuse()) }, waitMs)
      const wake = (): void => { clearTimeout(timer); resolve() }
      this.waiting.add(wake)
    })
    return this.releaser()
  }

  private releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.waiting.values().next().value
      if (next === undefined) { this.active--; return }
      // The slot passes straight to the longest waiter.
      this.waiting.delete(next)
      next()
    }
  }
}
