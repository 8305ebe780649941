/**
 * CPU engine: the GPU engine's interface on compiled JavaScript. In: a Graph and bindings. Out: the
 * same Results, in Float64Array, from straight-line float64 code (codegen/js.ts) over the graph's
 * program — several times faster than the reference engine, which interprets it node by node.
 *
 * Used where no WebGPU adapter exists, and only when asked for (createEngine's `fallback: 'cpu'`):
 * every result's `backend` says "cpu-js", never silently standing in for a GPU.
 */
import { checkBindings, type Bindings } from '../bindings.js'
import { perGraph } from '../cache.js'
import { emitJs, type CompiledJs } from '../codegen/js.js'
import { BindingError, GraphError } from '../errors.js'
import type { Graph } from '../graph.js'
import { BUILTIN_OPS } from '../ops.js'
import { programOf, type Program } from '../program.js'
import { evaluateProgram } from '../reference.js'
import { checkWeights, resultsFromRows, type Results, type SumOptions } from '../results.js'
import { graphToJSON, type GraphJSON } from '../serialize.js'
import { createPool, defaultThreads, MIN_PER_THREAD, type WorkerPool } from './pool.js'

export const CPU_BACKEND = 'cpu-js (compiled JavaScript, float64)'

/** A graph compiled to JavaScript. */
export class CpuKernel {
  readonly #run: CompiledJs
  readonly #version: number
  /** Whether worker threads know every op of the graph as compiled (see builtinOnly). */
  readonly #threadable: boolean
  readonly #key = `kernel-${nextKernel++}`
  #json: GraphJSON | undefined
  /** Bindings run so far (see CpuEngineOptions.compileAfter). */
  #seen = 0
  constructor(
    readonly graph: Graph,
    /** What the kernel computes: the graph's forward nodes and, for Jacobians, its reverse sweeps. */
    readonly program: Program,
    readonly description: string,
    /** The engine's worker threads, where it has them. */
    readonly pool: () => Promise<WorkerPool | undefined> = async () => undefined,
    /** Bindings this kernel runs on the reference engine before its compiled JavaScript takes over. */
    readonly compileAfter = 0,
  ) {
    this.#run = emitJs(program)
    this.#version = graph.version
    this.#threadable = builtinOnly(graph)
  }

  /** Resolves at once: there is no pipeline to build (kept for the GPU Kernel's interface). */
  readonly ready: Promise<void> = Promise.resolve()

  /**
   * Values and Jacobians for every binding (float64). A batch of at least 2·MIN_PER_THREAD
   * bindings is split over the engine's worker threads (Node), with the same numbers.
   */
  async run(bindings: Bindings, options: SumOptions = {}): Promise<Results<Float64Array>> {
    const { size, sources, weights } = this.#check(bindings, options)
    // V8 optimizes big generated functions only after thousands of calls (a 1,000-node graph's
    // code ran ~50x slower than it later does for its first ~10^4 bindings): until then the
    // reference engine, whose loops are warm, gives the same numbers sooner.
    const reference = this.#seen + size < this.compileAfter
    this.#seen += size
    const path = reference ? `; this run on the reference engine (the graph's first ${this.compileAfter} bindings)` : ''
    const pool = size >= 2 * MIN_PER_THREAD && this.graph.version === this.#version && this.#threadable ? await this.pool() : undefined
    const here = () => this.#results(this.#compute(sources, size, reference), size, weights, `${this.description}${path}`)
    if (!pool || pool.broken) return here()
    const shared = (values?: ArrayLike<number>) => {
      const a = new Float64Array(new SharedArrayBuffer(size * 8))
      if (values) a.set(values)
      return a
    }
    const inputs = sources.map((s) => (typeof s === 'number' ? s : shared(s)))
    const rows = this.program.rows.map(() => shared())
    try {
      await pool.run(reference ? `${this.#key}-reference` : this.#key, () => this.#graphJson(), this.program.jacobian, inputs, rows, size, reference)
    } catch (e) {
      // A thread died: this run and later ones compute here. Anything else is the graph's error.
      if (!pool.broken) throw e
      return here()
    }
    return this.#results(rows.map((r) => r.slice()), size, weights, `${this.description}, ${pool.size} threads${path}`)
  }

  #graphJson(): GraphJSON {
    return (this.#json ??= graphToJSON(this.graph))
  }

  /** As run, on the calling thread, always on the compiled JavaScript. */
  runSync(bindings: Bindings, options: SumOptions = {}): Results<Float64Array> {
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

  #compute(sources: readonly (ArrayLike<number> | number)[], size: number, reference = false): Float64Array[] {
    const rows = this.program.rows.map(() => new Float64Array(size))
    if (reference) evaluateProgram(this.program, sources, rows, 0, size)
    else this.#run(sources, rows, 0, size)
    return rows
  }

  #results(rows: Float64Array[], size: number, weights: ReturnType<typeof checkWeights>, backend: string): Results<Float64Array> {
    return resultsFromRows(this.graph, this.program, rows, weights, size, backend)
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
   * Worker threads for batches of at least 2·MIN_PER_THREAD bindings (Node only; default: the
   * machine's cores, at most 16). 1: everything runs on the calling thread.
   */
  readonly threads?: number
}

/**
 * The CPU engine: compile/evaluate like the GPU engine, on compiled JavaScript.
 *
 * @example
 * const cpu = createCpuEngine(); const r = await cpu.evaluate(parse('f = x*y'), { x: [2], y: [3] })
 * r.backend  // 'cpu-js (compiled JavaScript, float64)'
 */
export class CpuEngine {
  readonly kind = 'cpu'
  readonly #kernels = perGraph<CpuKernel>()
  readonly #threads: number | undefined
  readonly #compileAfter: number
  #pool: Promise<WorkerPool | undefined> | undefined
  #destroyed = false

  constructor(
    readonly description: string = CPU_BACKEND,
    options: CpuEngineOptions = {},
  ) {
    const { threads, compileAfter = COMPILE_AFTER } = options
    if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new BindingError(`threads must be an integer >= 1, got ${String(threads)}`)
    if (!(Number.isInteger(compileAfter) && compileAfter >= 0)) throw new BindingError(`compileAfter must be an integer >= 0, got ${String(compileAfter)}`)
    this.#threads = threads
    this.#compileAfter = compileAfter
  }

  /** `{ jacobian: false }`: values only (no reverse sweep). */
  compile(graph: Graph, options: { readonly jacobian?: boolean } = {}): CpuKernel {
    return new CpuKernel(graph, programOf(graph, { jacobian: options.jacobian ?? true }), this.description, () => this.#workers(), this.#compileAfter)
  }

  async evaluate(graph: Graph, bindings: Bindings, options: SumOptions & { readonly jacobian?: boolean } = {}): Promise<Results<Float64Array>> {
    const { jacobian = true, ...run } = options
    return this.#kernels(graph, jacobian ? 'jacobian' : 'values', () => this.compile(graph, { jacobian })).run(bindings, run)
  }

  /** The worker threads, started on first need; undefined where there are none. */
  #workers(): Promise<WorkerPool | undefined> {
    if (this.#destroyed) return Promise.resolve(undefined)
    this.#pool ??= (async () => createPool(this.#threads ?? (await defaultThreads())))().catch(() => undefined)
    return this.#pool
  }

  /** Stops the worker threads (later runs compute on the calling thread). */
  destroy(): void {
    this.#destroyed = true
    void this.#pool?.then((p) => p?.destroy())
  }
}

export function createCpuEngine(options: CpuEngineOptions = {}): CpuEngine {
  return new CpuEngine(CPU_BACKEND, options)
}
