/**
 * Progress of a long command (keys:reencrypt, db:prune): on a terminal one line
 * rewritten in place, elsewhere (a cron job's log) a plain line every few seconds.
 */
export class Progress {
  private done = 0
  private readonly started: number
  private lastLine = 0

  /** `total` prefixed with `~` in the line when `estimated`: a planner's estimate, which the count may pass. */
  constructor (private readonly label: string, private readonly total: number, private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly now: () => number = Date.now, private readonly everyMs = 5000, private readonly estimated = false) {
    this.started = now()
  }

  add (count: number): void {
    this.done += count
    const now = this.now()
    if (this.out.isTTY === true) this.out.write(`\r${this.line(now)}`)
    else if (now - this.lastLine >= this.everyMs) {
      this.out.write(`${this.line(now)}\n`)
      this.lastLine = now
    }
  }

  finish (): void {
    this.out.write(`${this.out.isTTY === true ? '\r' : ''}${this.line(this.now())}\n`)
  }

  private line (now: number): string {
    const seconds = Math.max(0.001, (now - this.started) / 1000)
    const share = this.total > 0 ? ` (${Math.min(100, Math.floor((100 * this.done) / this.total))}%)` : ''
    return `${this.label}: ${this.done}/${this.estimated ? '~' : ''}${this.total}${share}, ${Math.round(this.done / seconds)}/s`
  }
}
