/**
 * Background builds: when tier 'auto' compiles fused kernels. In: builds (a kernel's pipelines, one
 * step per segment) and the engine's first runs. Out: the builds run one at a time, most recently
 * asked first, each step started only while no graph waits for its first result.
 *
 * Why: a new graph's first result comes from the interpreter, and nothing may delay it. On the
 * software adapter part of a pipeline's compile runs on a Dawn worker thread (taking a core from the
 * two or so that run dispatches) and the rest at its first dispatch, the warm-up, on the one queue
 * that also runs every graph's work. So a step starts only when no first run is in flight and none
 * ended in the last QUIET_MS (someone typing new graphs into the demo gets no builds until they
 * pause); a step already compiling when a new graph arrives delays it by at most that step, bounded
 * by the planner (plan.ts COST_BUDGET and cutProgram: about 1.6 s by the compile model).
 *
 * Invariants: at most one build runs; a build dropped (its kernel destroyed, the engine destroyed)
 * before its turn never starts; a step asked for urgently (a run forced onto the fused tier, or
 * `kernel.ready`) is not held back.
 */

/** How long after a graph's first result background builds stay paused (ms). */
export const QUIET_MS = 200

interface Build {
  readonly owner: object
  readonly run: () => Promise<void>
  /** Called instead of run when the build is dropped before its turn. */
  readonly cancel: () => void
}

export class BuildQueue {
  /** First runs in flight. */
  #firstRuns = 0
  /** When the last first run ended (performance.now()). */
  #lastFirstRun = -Infinity
  /** Waiting builds, oldest first (the last is taken first). */
  #waiting: Build[] = []
  #running: Build | undefined
  #closed = false
  /** Callers of quiet() waiting for the first runs to pass. */
  #sleepers: (() => void)[] = []
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly quietMs = QUIET_MS) {}

  /** Builds waiting or running (for stats and tests). */
  get pending(): number {
    return this.#waiting.length + (this.#running ? 1 : 0)
  }

  /** Runs `work` as a graph's first run: background build steps wait until it (and QUIET_MS) is over. */
  async firstRun<T>(work: () => Promise<T>): Promise<T> {
    this.#firstRuns++
    try {
      return await work()
    } finally {
      this.#firstRuns--
      this.#lastFirstRun = performance.now()
      this.#wake()
    }
  }

  /** Resolves once no first run is in flight and none ended in the last quietMs. */
  quiet(): Promise<void> {
    if (this.#isQuiet()) return Promise.resolve()
    return new Promise((resolve) => {
      this.#sleepers.push(resolve)
      this.#wake()
    })
  }

  /**
   * Queues `run` (a kernel's build, which awaits quiet() before each of its steps), or, if the
   * build is dropped before its turn (or the queue is closed), calls `cancel`. A build of an owner
   * already waiting replaces it (the older one is cancelled).
   */
  add(owner: object, run: () => Promise<void>, cancel: () => void): void {
    if (this.#closed) return cancel()
    this.drop(owner)
    this.#waiting.push({ owner, run, cancel })
    this.#next()
  }

  /** Cancels `owner`'s build if it has not started. */
  drop(owner: object): void {
    const dropped = this.#waiting.filter((b) => b.owner === owner)
    this.#waiting = this.#waiting.filter((b) => b.owner !== owner)
    for (const b of dropped) b.cancel()
  }

  /** Takes `owner`'s build out of the queue for the caller to run now (not held back); undefined if not waiting. */
  take(owner: object): (() => Promise<void>) | undefined {
    const build = this.#waiting.find((b) => b.owner === owner)
    if (!build) return undefined
    this.#waiting = this.#waiting.filter((b) => b !== build)
    return build.run
  }

  /** The engine's destroy: builds waiting are cancelled, nothing starts again, sleepers are released (their builds then fail). */
  close(): void {
    this.#closed = true
    for (const b of this.#waiting.splice(0)) b.cancel()
    if (this.#timer) clearTimeout(this.#timer)
    for (const wake of this.#sleepers.splice(0)) wake()
  }

  #isQuiet(): boolean {
    return this.#closed || (this.#firstRuns === 0 && performance.now() - this.#lastFirstRun >= this.quietMs)
  }

  /** Releases sleepers once quiet, checking again when the quiet period may have passed. */
  #wake(): void {
    if (!this.#sleepers.length || this.#timer) return
    if (this.#isQuiet()) {
      for (const wake of this.#sleepers.splice(0)) wake()
      return
    }
    if (this.#firstRuns > 0) return // firstRun's end wakes us
    const wait = Math.max(1, this.quietMs - (performance.now() - this.#lastFirstRun))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#wake()
    }, wait)
    // A pending build must not keep a Node process alive.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  #next(): void {
    if (this.#running || this.#closed) return
    const build = this.#waiting.pop()
    if (!build) return
    this.#running = build
    void build
      .run()
      .catch(() => undefined)
      .finally(() => {
        this.#running = undefined
        this.#next()
      })
  }
}
