/**
 * CPU engine: the GPU engine's interface on compiled JavaScript. In: a Graph and bindings. Out: the
 * same Results, in Float64Array (or Float32Array with `output: 'float32'`), from straight-line
 * float64 code (codegen/js.ts) over the graph's program — several times faster than the reference
 * engine, which interprets it node by node. A large batch is split over threads: the calling
 * thread and the worker threads of pool.ts.
 *
 * Used by the auto engine (auto.ts, createEngine's default) where its model predicts the CPU is
 * faster, where no WebGPU adapter exists, and when asked for: every result's `backend` says
 * "cpu-js", never silently standing in for a GPU.
 */
import { longRun, pause, type LongRunOptions } from '../abort.js'
import { admit, allocate, checkMaxHostBytes, hostLimit } from '../admission.js'
import { checkBindings, type Bindings } from '../bindings.js'
import { perGraph } from '../cache.js'
import { emitJs, type CompiledJs } from '../codegen/js.js'
import { emitWasm } from '../codegen/wasm.js'
import { BindingError, GraphError } from '../errors.js'
import type { DefaultParams, Graph } from '../graph.js'
import { BUILTIN_OPS } from '../ops.js'
import { programOf, type Program } from '../program.js'
import { evaluateProgram } from '../reference.js'
import { checkWeights, paramRows, resultsFromRows, type Results, type SumOptions } from '../results.js'
import { graphToJSON, type GraphJSON } from '../serialize.js'
import { createPool, defaultThreads, MIN_PER_THREAD, type WorkerPool } from './pool.js'

export const CPU_BACKEND = 'cpu-js (compiled JavaScript, float64)'
/** The CPU engine's description with float32 result arrays. */
export const CPU_BACKEND_F32 = 'cpu-js (compiled JavaScript, float64, float32 results)'

/** Bindings [start, start + len) of one input, copied into shared memory for a worker thread (keeps float32 as float32). */
function sharedCopy(source: ArrayLike<number>, start: number, len: number): Float32Array | Float64Array {
  const f32 = source instanceof Float32Array
  const copy = f32 ? new Float32Array(new SharedArrayBuffer(len * 4)) : new Float64Array(new SharedArrayBuffer(len * 8))
  if (ArrayBuffer.isView(source)) copy.set((source as unknown as Float64Array).subarray(start, start + len))
  else for (let i = 0; i < len; i++) copy[i] = source[start + i]!
  return copy
}

/**
 * The calling thread's share of a threaded run. It copies the workers' inputs into shared memory
 * (`copy` ms per copied binding), then computes its part (`compute` ms per binding, as every thread);
 * with n threads every thread ends together when its share m satisfies
 * copy·(B − m) + compute·m = compute·(B − m)/(n − 1). Both rates are measured on every run.
 */
class Balance {
  #copy = 0
  #compute = 0

  share(size: number, n: number): number {
    if (!this.#compute) return Math.ceil(size / n)
    const worker = this.#compute / (n - 1)
    const m = (size * (worker - this.#copy)) / (this.#compute + worker - this.#copy)
    return Math.max(0, Math.min(Math.ceil(size / n), Math.round(m)))
  }

  learn(size: number, mine: number, copyMs: number, computeMs: number): void {
    if (mine < MIN_PER_THREAD || size - mine < MIN_PER_THREAD) return
    const copy = copyMs / (size - mine)
    const compute = computeMs / mine
    // Averaged with the last run's: one disturbed run moves the split only halfway.
    this.#copy = this.#compute ? (this.#copy + copy) / 2 : copy
    this.#compute = this.#compute ? (this.#compute + compute) / 2 : compute
  }
}

/**
 * One of two ways to run a kernel, chosen by measurement: threads or the calling thread alone;
 * WebAssembly SIMD or generated JavaScript. Threads cost shared copies of the inputs, shared result
 * memory (first touched by several threads: page faults contend) and messages: for a graph of a few
 * operations per binding (memory-bound) one thread was measured faster on 2 cores (F1 at 2^20:
 * 2.8–6 ms alone, 7–13 ms over 2 threads), for a tanh network ~2x slower. f64x2 lanes beat
 * generated JavaScript on the seed graph (2.4 vs 3.1 ms at 2^20) and lost on Rosenbrock (4.4 vs 3.9
 * ms: its masks and block copies). Way A is tried first, then B, then the faster per binding (the
 * best of each way's last four runs: on this VM one run in several pays for page faults or a
 * collection, and a mean let one such run lock the slower way in) runs, and every 16th time the
 * other is tried again (machines and batch sizes drift).
 */
class Choice {
  /** Each way's last few ms per binding: the least of them is what the way can do (first touches of fresh memory and collections only ever add). */
  readonly #a: number[] = []
  readonly #b: number[] = []
  #picks = 0

  /** Whether way A runs next (exploring both first, then every 16th time the slower). */
  pick(): boolean {
    this.#picks++
    if (!this.#a.length) return true
    if (!this.#b.length) return false
    return this.#picks % 16 === 0 ? !this.preferred : this.preferred
  }

  /** Whether way A is the faster so far (A until B has been measured faster). */
  get preferred(): boolean {
    return !(Math.min(...this.#b) < Math.min(...this.#a))
  }

  learn(a: boolean, size: number, ms: number): void {
    const kept = a ? this.#a : this.#b
    kept.push(ms / size)
    if (kept.length > 4) kept.shift()
  }
}

/** The element type of result arrays: the CPU engine computes in float64 either way. */
export type CpuOutput = 'float64' | 'float32'

/** What a result's backend says after the engine's description where the wasm kernel ran. */
const WASM_SUFFIX = '; WebAssembly SIMD'
/** A run with a signal or onProgress computes in blocks of this many bindings... */
const BLOCK = 16_384
/** ... and pauses for a macrotask (and reports progress) at least this often. */
const PAUSE_MS = 16
/** A watched threaded run goes in at most this many rounds (progress and the signal between them). */
const ROUNDS = 8

/** A graph compiled to WebAssembly SIMD (arithmetic only) and generated JavaScript. */
export class CpuKernel<A extends Float64Array | Float32Array = Float64Array, I extends string = string, O extends string = string, P extends string = DefaultParams<I>> {
  /** The WebAssembly SIMD kernel, for a graph of arithmetic only (codegen/wasm.ts). */
  readonly #wasm: CompiledJs | undefined
  #js: CompiledJs | undefined
  readonly #version: number
  /** Whether worker threads know every op of the graph as compiled (see builtinOnly). */
  readonly #threadable: boolean
  readonly #key = `kernel-${nextKernel++}`
  #json: GraphJSON | undefined
  /** Bindings run so far (see CpuEngineOptions.compileAfter). */
  #seen = 0
  /** Rows summed over the batch (parameters'). */
  readonly #summed: ReadonlySet<number>
  /** How a threaded run splits its batch (the calling thread's share). */
  readonly #balance = new Balance()
  /** Whether threads pay for this graph (with `adaptive`): A = threads. */
  readonly #threads = new Choice()
  /** Whether the wasm kernel beats generated JavaScript for this graph: A = wasm. */
  readonly #code = new Choice()
  constructor(
    readonly graph: Graph<I, O, P>,
    /** What the kernel computes: the graph's forward nodes and, for Jacobians, its reverse sweeps. */
    readonly program: Program,
    /** Every result's `backend` starts with it (then "; WebAssembly SIMD" where the wasm kernel ran). */
    readonly description: string,
    /** The engine's worker threads, where it has them. */
    readonly pool: () => Promise<WorkerPool | undefined> = async () => undefined,
    /** Bindings this kernel runs on the reference engine before its compiled JavaScript takes over. */
    readonly compileAfter = 0,
    /** The element type of result arrays. */
    readonly output: CpuOutput = 'float64',
    /**
     * Split a batch over threads only where that was measured faster for this graph than the calling
     * thread alone (false: always split; the user asked for a thread count).
     */
    readonly adaptive = false,
    /** CpuEngineOptions.maxHostBytes (admission.ts). */
    readonly maxHostBytes: number | undefined = undefined,
  ) {
    this.#summed = new Set(paramRows(graph, program))
    this.#wasm = emitWasm(program)
    if (!this.#wasm) this.#js = emitJs(program)
    this.#version = graph.version
    this.#threadable = builtinOnly(graph)
  }

  /** Resolves at once: there is no pipeline to build (kept for the GPU Kernel's interface). */
  readonly ready: Promise<void> = Promise.resolve()

  /**
   * Values and Jacobians for every binding, computed in float64 and stored as the engine's `output`
   * type. A batch of at least 2·MIN_PER_THREAD bindings is split over the engine's threads (Node):
   * the calling thread computes the first part straight from the caller's arrays, each worker thread
   * one of the others, from a shared copy of just its part's inputs; every thread writes its part of
   * the result arrays in place (SharedArrayBuffer-backed, returned as they are). Same numbers either way.
   */
  async run(bindings: Bindings<I>, options: SumOptions & LongRunOptions = {}): Promise<Results<A, I, O, P>> {
    const long = longRun(options)
    const { size, sources, weights } = this.#check(bindings, options)
    // V8 optimizes big generated functions only after thousands of calls (a 1,000-node graph's
    // code ran ~50x slower than it later does for its first ~10^4 bindings): until then the
    // reference engine, whose loops are warm, gives the same numbers sooner. (A wasm kernel is
    // compiled before its first call.)
    const reference = this.warmingUp(size)
    this.#seen += size
    const path = reference ? `; this run on the reference engine (the graph's first ${this.compileAfter} bindings)` : ''
    const parts = Math.floor(size / MIN_PER_THREAD)
    const pool = parts >= 2 && this.graph.version === this.#version && this.#threadable ? await this.pool() : undefined
    // Host memory is admitted before any is taken: the result rows, and the shared copies of the
    // inputs a threaded run hands its workers.
    const rowBytes = this.program.rows.reduce((n, _, r) => n + (this.output === 'float32' && !this.#summed.has(r) ? 4 : 8), 0)
    const copied = pool ? sources.reduce<number>((n, s) => n + (typeof s === 'number' ? 0 : s instanceof Float32Array ? 4 : 8), 0) : 0
    admit((rowBytes + copied) * size, `${this.program.rows.length} result rows${copied ? ' and copies of the inputs for the worker threads' : ''}, ${rowBytes + copied} bytes × ${size} bindings`, hostLimit(this.maxHostBytes))
    // A watched run (signal, onProgress) is not timed: its pauses and the caller's callbacks would teach the choices wrong.
    const watched = long.signal !== undefined || long.onProgress !== undefined
    const { onProgress } = long
    const report = onProgress && ((done: number) => onProgress({ done, total: size }))
    const here = async () => {
      // The calling thread alone: wasm or generated JavaScript, the faster measured (big batches teach it).
      const wasm = this.#wasm !== undefined && !reference && (size >= MIN_PER_THREAD ? this.#code.pick() : this.#code.preferred)
      const started = performance.now()
      const rows = this.program.rows.map((_, r) => this.#row(size, false, r))
      await this.#fillWatched(sources, rows, size, reference, wasm, long.signal, report)
      if (this.#wasm && !reference && size >= MIN_PER_THREAD && !watched) this.#code.learn(wasm, size, performance.now() - started)
      return this.#results(rows, size, weights, `${this.description}${wasm ? WASM_SUFFIX : ''}${path}`)
    }
    if (!pool || pool.broken) return here()
    const threaded = reference || !this.adaptive || this.#threads.pick()
    const started = performance.now()
    const done = <R>(r: R) => (watched ? r : (this.#threads.learn(threaded, size, performance.now() - started), r))
    if (!threaded) return done(await here())
    const wasm = this.#wasm !== undefined && !reference && this.#code.preferred
    const n = Math.min(parts, pool.size + 1)
    const rows = this.program.rows.map((_, r) => this.#row(size, true, r))
    // A watched run goes in rounds, each split over the threads, with progress, a pause and the
    // signal checked between rounds.
    const rounds = watched ? Math.max(1, Math.min(ROUNDS, Math.floor(size / (n * MIN_PER_THREAD)))) : 1
    try {
      for (let from = 0; from < size; ) {
        const len = Math.min(Math.ceil(size / rounds), size - from)
        await this.#threaded(pool, n, sources, rows, from, len, reference, wasm, !watched)
        from += len
        report?.(from)
        if (from < size) {
          await pause()
          long.signal?.throwIfAborted()
        }
      }
    } catch (e) {
      // A thread died: this run and later ones compute here. Anything else is the graph's error.
      if (!pool.broken || long.signal?.aborted) throw e
      return here()
    }
    return done(this.#results(rows, size, weights, `${this.description}${wasm ? WASM_SUFFIX : ''}, ${n} threads${path}`))
  }

  /**
   * Bindings [from, from + len) over n threads: the calling thread copies the workers' inputs
   * before it computes its own part, the smaller one, sized from the last measured costs
   * (`learn`) so that every thread ends together.
   */
  async #threaded(pool: WorkerPool, n: number, sources: readonly (ArrayLike<number> | number)[], rows: readonly A[], from: number, len: number, reference: boolean, wasm: boolean, learn: boolean): Promise<void> {
    const mine = this.#balance.share(len, n)
    const per = Math.ceil((len - mine) / (n - 1))
    const t0 = performance.now()
    const slices = Array.from({ length: n - 1 }, (_, p) => {
      const start = from + mine + p * per
      const count = Math.max(0, Math.min(per, from + len - start))
      const inputs = sources.map((s) => (typeof s === 'number' ? s : sharedCopy(s, start, count)))
      return { inputs, rows: rows.map((r) => r.subarray(start, start + count) as A), len: count }
    }).filter((slice) => slice.len > 0)
    const working = pool.run(reference ? `${this.#key}-reference` : this.#key, () => this.#graphJson(), this.program.jacobian, slices, reference)
    working.catch(() => undefined)
    const t1 = performance.now()
    try {
      this.#fill(sources, rows, from, mine, reference, wasm)
    } catch (e) {
      // The workers finish their parts first, so that the pool is free for the next run.
      await working.catch(() => undefined)
      throw e
    }
    if (learn) this.#balance.learn(len, mine, t1 - t0, performance.now() - t1)
    await working
  }

  /**
   * Row r of the engine's output type (shared memory where threads write it); a parameter's row,
   * summed over the batch and never returned, float64 whatever the output type.
   */
  #row(size: number, shared: boolean, r: number): A {
    const f32 = this.output === 'float32' && !this.#summed.has(r)
    const bytes = f32 ? 4 : 8
    const buffer = allocate(size * bytes, `a result row of ${size} bindings`, () => (shared ? new SharedArrayBuffer(size * bytes) : new ArrayBuffer(size * bytes)))
    return (f32 ? new Float32Array(buffer) : new Float64Array(buffer)) as A
  }

  #graphJson(): GraphJSON {
    return (this.#json ??= graphToJSON(this.graph))
  }

  /** As run, on the calling thread, always on the compiled JavaScript. */
  runSync(bindings: Bindings<I>, options: SumOptions = {}): Results<A, I, O, P> {
    const { size, sources, weights } = this.#check(bindings, options)
    return this.#results(this.#compute(sources, size), size, weights, this.description)
  }

  #check(bindings: Bindings, options: SumOptions) {
    // As the GPU Kernel: compiled code reads the inputs it was compiled for, by position.
    if (this.graph.inputs.join(',') !== this.program.inputs.join(',')) {
      throw new GraphError(`the graph's inputs changed after compile (now ${this.graph.inputs.join(', ')}); compile it again`)
    }
    const { size, sources } = checkBindings(this.graph, bindings)
    const weights = checkWeights(this.graph, options.weights, size)
    // checkBindings without `gpu` admits no GPU buffers: only arrays and numbers are left.
    return { size, sources: sources as readonly (ArrayLike<number> | number)[], weights }
  }

  #compute(sources: readonly (ArrayLike<number> | number)[], size: number, reference = false, wasm = false): A[] {
    const rows = this.program.rows.map((_, r) => this.#row(size, false, r))
    this.#fill(sources, rows, 0, size, reference, wasm)
    return rows
  }

  /**
   * #fill of a whole batch on the calling thread; for a watched run (signal, onProgress) in blocks
   * of BLOCK bindings, pausing for a macrotask (when the signal may fire) and telling the progress
   * at least every PAUSE_MS.
   */
  async #fillWatched(sources: readonly (ArrayLike<number> | number)[], rows: readonly A[], size: number, reference: boolean, wasm: boolean, signal: AbortSignal | undefined, report: ((done: number) => void) | undefined): Promise<void> {
    if (!signal && !report) return this.#fill(sources, rows, 0, size, reference, wasm)
    let paused = performance.now()
    for (let at = 0; at < size; ) {
      const n = Math.min(BLOCK, size - at)
      this.#fill(sources, rows, at, n, reference, wasm)
      at += n
      if (at === size) report?.(at)
      else if (performance.now() - paused >= PAUSE_MS) {
        report?.(at)
        await pause()
        signal?.throwIfAborted()
        paused = performance.now()
      }
    }
  }

  #fill(sources: readonly (ArrayLike<number> | number)[], rows: readonly A[], start: number, len: number, reference: boolean, wasm: boolean): void {
    if (reference) evaluateProgram(this.program, sources, rows, start, len)
    else if (wasm) this.#wasm!(sources, rows, start, len)
    else (this.#js ??= emitJs(this.program))(sources, rows, start, len)
  }

  /** Whether a run of `size` bindings now would run on the reference engine (see compileAfter). */
  warmingUp(size: number): boolean {
    return !this.wasm && this.#seen + size < this.compileAfter
  }

  /** Whether the graph has a WebAssembly SIMD kernel (arithmetic only; it and generated JavaScript are timed against each other). */
  get wasm(): boolean {
    return this.#wasm !== undefined
  }

  #results(rows: A[], size: number, weights: ReturnType<typeof checkWeights>, backend: string): Results<A, I, O, P> {
    return resultsFromRows(this.graph, this.program, rows, weights, size, backend) as Results<A, I, O, P>
  }
}

let nextKernel = 0

/** Whether a worker thread knows every op of the graph (custom ops live on this thread only). */
function builtinOnly(graph: Graph): boolean {
  for (let id = 0; id < graph.nodeCount; id++) {
    const kind = graph.kind(id)
    if (kind !== 'input' && kind !== 'const' && !BUILTIN_OPS.has(kind)) return false
  }
  return true
}

/** Default CpuEngineOptions.compileAfter. */
export const COMPILE_AFTER = 1 << 15

export interface CpuEngineOptions {
  /**
   * Bindings a graph runs on the reference engine (evaluateCpu: same numbers, to the last bit)
   * before its compiled JavaScript takes over, counted over its runs (default COMPILE_AFTER). V8
   * makes the generated code fast only after thousands of calls; below this the reference engine is
   * faster. 0: compiled from the first run.
   */
  readonly compileAfter?: number
  /**
   * Threads a batch of at least 2·MIN_PER_THREAD bindings is split over, the calling thread
   * included (Node only; default: the machine's cores, at most 16). 1: everything runs on the
   * calling thread.
   */
  readonly threads?: number
  /**
   * The element type of result arrays (default 'float64'). 'float32' halves the memory the results
   * take and write, as the GPU engine's; the arithmetic is float64 either way, rounded once when stored.
   */
  readonly output?: CpuOutput
  /**
   * Most host memory a run's result arrays (and its threads' input copies) may take, in bytes; a
   * bigger run is refused with a BindingError naming its need and this limit, before anything is
   * allocated. Default: the memory Node reports available when the run starts.
   */
  readonly maxHostBytes?: number
}

/**
 * The CPU engine: compile/evaluate like the GPU engine, on compiled JavaScript.
 *
 * @example
 * const cpu = createCpuEngine(); const r = await cpu.evaluate(parse('f = x*y'), { x: [2], y: [3] })
 * r.backend  // 'cpu-js (compiled JavaScript, float64)'
 */
export class CpuEngine<A extends Float64Array | Float32Array = Float64Array> {
  readonly kind = 'cpu'
  readonly #kernels = perGraph<CpuKernel<A>>()
  readonly #threads: number | undefined
  readonly #compileAfter: number
  /** The element type of result arrays. */
  readonly output: CpuOutput
  #pool: Promise<WorkerPool | undefined> | undefined
  #destroyed = false
  readonly #maxHostBytes: number | undefined

  constructor(
    readonly description: string = CPU_BACKEND,
    options: CpuEngineOptions = {},
  ) {
    const { threads, compileAfter = COMPILE_AFTER, output = 'float64' } = options
    this.#maxHostBytes = checkMaxHostBytes(options.maxHostBytes)
    if (output !== 'float64' && output !== 'float32') throw new BindingError(`output must be 'float64' or 'float32', got ${String(output)}`)
    this.output = output
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new BindingError(`threads must be an integer >= 1, got ${String(threads)}`)
    if (!(Number.isInteger(compileAfter) && compileAfter >= 0)) throw new BindingError(`compileAfter must be an integer >= 0, got ${String(compileAfter)}`)
    this.#threads = threads
    this.#compileAfter = compileAfter
  }

  /** `{ jacobian: false }`: values only (no reverse sweep). */
  compile<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, options: { readonly jacobian?: boolean } = {}): CpuKernel<A, I, O, P> {
    return new CpuKernel<A, I, O, P>(graph, programOf(graph, { jacobian: options.jacobian ?? true }), this.description, () => this.#workers(), this.#compileAfter, this.output, this.#threads === undefined, this.#maxHostBytes)
  }

  async evaluate<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, bindings: Bindings<I>, options: SumOptions & LongRunOptions & { readonly jacobian?: boolean } = {}): Promise<Results<A, I, O, P>> {
    const { jacobian = true, ...run } = options
    const kernel = this.#kernels(graph, jacobian ? 'jacobian' : 'values', () => this.compile(graph, { jacobian })) as unknown as CpuKernel<A, I, O, P>
    return kernel.run(bindings, run)
  }

  /** The worker threads, started on first need; undefined where there are none. */
  #workers(): Promise<WorkerPool | undefined> {
    if (this.#destroyed) return Promise.resolve(undefined)
    // The calling thread computes one part of each batch: the pool has one thread fewer.
    this.#pool ??= (async () => createPool((this.#threads ?? (await defaultThreads())) - 1))().catch(() => undefined)
    return this.#pool
  }

  /** Stops the worker threads (later runs compute on the calling thread). */
  destroy(): void {
    this.#destroyed = true
    void this.#pool?.then((p) => p?.destroy())
  }

  /** destroy(), for `using engine = createCpuEngine()`. */
  [Symbol.dispose](): void {
    this.destroy()
  }

  /** Waits for the worker threads' work in flight, then destroy(): `await using engine = ...`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await (await this.#pool)?.idle()
    this.destroy()
  }
}

export function createCpuEngine(options?: CpuEngineOptions & { readonly output?: 'float64' }): CpuEngine
export function createCpuEngine(options: CpuEngineOptions & { readonly output: 'float32' }): CpuEngine<Float32Array>
export function createCpuEngine(options: CpuEngineOptions = {}): CpuEngine<Float64Array> | CpuEngine<Float32Array> {
  return options.output === 'float32' ? new CpuEngine<Float32Array>(CPU_BACKEND_F32, options) : new CpuEngine<Float64Array>(CPU_BACKEND, options)
}
