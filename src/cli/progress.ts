/**
 * Progress bar for the CLI. In: a phase label, a total, and ticks of work done. Out: one line on
 * stderr, redrawn in place, that appears only once the work has run longer than a second (short
 * commands print nothing) and is erased when the phase ends, so stdout stays clean for results.
 *
 * The clock and the stream are injected so the behaviour is testable without waiting.
 */

/** The part of a write stream the bar uses (process.stderr fits). */
export interface ProgressStream {
  write(text: string): unknown
  readonly isTTY?: boolean
  readonly columns?: number
}

export interface ProgressOptions {
  /** Draw at all (default: when the stream is a terminal). */
  readonly enabled?: boolean
  /** Milliseconds of work before the bar first appears (default 1000). */
  readonly delayMs?: number
  /** Milliseconds between redraws (default 100). */
  readonly intervalMs?: number
  readonly now?: () => number
}

/**
 * @example
 * const bar = new Progress(process.stderr)
 * bar.start('evaluating', n, 'bindings'); for (...) bar.tick(done); bar.done()
 */
export class Progress {
  readonly #stream: ProgressStream
  readonly #enabled: boolean
  readonly #delay: number
  readonly #interval: number
  readonly #now: () => number
  #label = ''
  #unit = ''
  #total = 0
  #started = 0
  #lastDraw = -Infinity
  #shown = false

  constructor(stream: ProgressStream, options: ProgressOptions = {}) {
    this.#stream = stream
    this.#enabled = options.enabled ?? stream.isTTY === true
    this.#delay = options.delayMs ?? 1000
    this.#interval = options.intervalMs ?? 100
    this.#now = options.now ?? (() => performance.now())
  }

  /** Begins a phase (the clock for the one-second delay starts here). */
  start(label: string, total: number, unit = ''): void {
    this.done()
    this.#label = label
    this.#unit = unit
    this.#total = total
    this.#started = this.#now()
    this.#lastDraw = -Infinity
  }

  /** Reports `done` of `total` units finished; draws if the phase is old enough and a redraw is due. */
  tick(done: number): void {
    if (!this.#enabled) return
    const now = this.#now()
    if (now - this.#started < this.#delay || now - this.#lastDraw < this.#interval) return
    this.#lastDraw = now
    this.#shown = true
    this.#stream.write(`\r${this.line(done, now - this.#started)}\x1b[K`)
  }

  /** Ends the phase: erases the bar if it was drawn. */
  done(): void {
    if (this.#shown) this.#stream.write('\r\x1b[K')
    this.#shown = false
  }

  /** The bar's text for `done` units after `elapsedMs` (exported for tests). */
  line(done: number, elapsedMs: number): string {
    const fraction = this.#total > 0 ? Math.min(1, Math.max(0, done / this.#total)) : 1
    const width = Math.max(10, Math.min(30, (this.#stream.columns ?? 80) - 60))
    const filled = Math.round(fraction * width)
    const count = `${done.toLocaleString('en-US')}/${this.#total.toLocaleString('en-US')}${this.#unit ? ` ${this.#unit}` : ''}`
    const eta = fraction > 0 && fraction < 1 ? `, ~${((elapsedMs / fraction - elapsedMs) / 1000).toFixed(1)} s left` : ''
    return `${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${count} (${(elapsedMs / 1000).toFixed(1)} s${eta})`
  }
}
