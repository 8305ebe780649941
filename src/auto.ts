/**
 * The auto engine (createEngine's default): each run goes to the GPU engine or to the CPU engine's
 * threads, whichever a measured cost model says is faster for this graph and batch size on this
 * machine. In: a graph and bindings. Out: Results in Float32Array from either backend (the CPU
 * engine computes in float64 and stores float32), `backend` naming the one that ran, and
 * `explain(graph, B)` saying why.
 *
 * The model. A graph's program does `work` units of GPU work (segmentCost: the WGSL operations of
 * its nodes), `heavy` of them in transcendental ops (cost ≥ HEAVY_COST), over `inputs` array inputs
 * and `rows` result rows; on the CPU each node of the graph costs its kind's measured ms per binding
 * (CpuCosts: `light` for arithmetic, each transcendental kind timed once per engine when a graph
 * first has it, forward and reverse sweep included), `compute` in all; a graph of arithmetic only
 * runs as a WebAssembly SIMD kernel, `wasmLight` per node and `wasmValue` per value instead.
 *   CPU ms = B·compute/T + B·cpu.value·(inputs·(T > 1 ? 2 : 1) + rows)  (+ cpu.fixed when T > 1)
 *   GPU ms = gpu.fixed + B·(gpu.up·inputs + (gpu.base + gpu.light·(work − heavy) + gpu.heavy·heavy)·tier + gpu.down·rows)
 * where T is 1 or the CPU engine's threads (whichever predicts less: the CPU kernel makes the same
 * choice per graph by measurement), and `tier` is 1 on a built fused kernel, the measured
 * interpreter factor until then. The rates come from probe graphs timed once per engine (~0.3 s
 * on a software adapter, after the GPU engine's interpreter is built). Generated JavaScript is
 * timed in long loops only: V8 optimizes a big kernel's function only after thousands of
 * bindings, so a short probe of the graph itself measured 10-30x its real speed. After each run the
 * kernel compares what it measured with what was predicted for the backend that ran and scales that
 * backend's later predictions for this graph (a running geometric mean of the ratio), so a graph the
 * probes misjudge is corrected by its own runs.
 */
import { isGpuBinding, type Bindings } from './bindings.js'
import { perGraph } from './cache.js'
import { emitJs } from './codegen/js.js'
import { emitWasm } from './codegen/wasm.js'
import { CpuEngine, CPU_BACKEND_F32, type CpuKernel } from './cpu/engine.js'
import { defaultThreads, MIN_PER_THREAD } from './cpu/pool.js'
import { BindingError } from './errors.js'
import { describe, Graph, type DefaultParams, type Expr } from './graph.js'
import { OPS, type OpName, type OpSpec } from './ops.js'
import { createGpuEngine, type CompileOptions, type GpuEngine, type GpuEngineOptions } from './gpu/engine.js'
import { DeviceError } from './gpu/errors.js'
import type { GpuResults, Kernel, RunOptions, Timings } from './gpu/kernel.js'
import { parse } from './parse.js'
import { segmentCost } from './plan.js'
import { mulberry32 } from './util/random.js'
import { programOf, type Program } from './program.js'
import { evaluateProgram } from './reference.js'
import type { Results } from './results.js'

/** Below this many bindings a run goes to the CPU without probing: a GPU run's fixed cost alone exceeds the work. */
export const SMALL_BATCH = 256

/** An op of at least this WGSL cost (segmentCost) is a transcendental: a libm call on the CPU, a long expansion in WGSL. */
const HEAVY_COST = 20

/** Runs of each backend per kernel before its measurements correct the model. */
const WARM_RUNS = 3

/** Nodes of one kind with the same constant arguments (undefined: not a constant). */
export interface Signature {
  readonly kind: string
  readonly consts: readonly (number | undefined)[]
  readonly count: number
}

/** Signatures with constants kept per kind; more share the kind's plain signature. */
const SIGNATURES_PER_KIND = 8

/** A graph's cost features (see the module comment). */
export interface GraphCost {
  /** Operations (nodes other than inputs and constants) of the program, reverse sweeps included. */
  readonly nodes: number
  readonly work: number
  readonly heavy: number
  /**
   * The graph's own operations by signature (the CPU model's terms): the kind, and for a
   * transcendental its constant arguments (`pow(_,2)`: x² costs a multiplication, x^y a libm call).
   */
  readonly kinds: ReadonlyMap<string, Signature>
  readonly inputs: number
  readonly rows: number
}

/** The measured rates, in ms (per binding where it says so). */
export interface Calibration {
  readonly cpu: {
    /** Per binding and arithmetic node of a graph (its reverse sweep included), one thread. */
    readonly light: number
    /** Per binding and value read or written (fresh result memory included). */
    readonly value: number
    /** Per binding and node of the program on the reference engine (a graph's first bindings of generated JavaScript: CpuEngineOptions.compileAfter). */
    readonly reference: number
    /** As `light`, for a graph of arithmetic only on its WebAssembly SIMD kernel (absent without wasm SIMD). */
    readonly wasmLight?: number
    /** As `value`, on a WebAssembly SIMD kernel (its copies in and out of the kernel's memory included). */
    readonly wasmValue?: number
    /** Threads a big batch may use (the calling thread included). */
    readonly threads: number
    /** A threaded run's messages and start. */
    readonly fixed: number
  }
  readonly gpu?: {
    /** A run's fixed cost (submission, map, promise round trips). */
    readonly fixed: number
    /** Per binding and input uploaded. */
    readonly up: number
    /** Per binding, whatever the graph (launch, loads, stores), on a fused kernel. */
    readonly base: number
    /** Per binding and unit of work (segmentCost) of arithmetic, on a fused kernel. */
    readonly light: number
    /** Per binding and unit of work of transcendentals, on a fused kernel. */
    readonly heavy: number
    /** How much slower the interpreter computes than a fused kernel. */
    readonly interpreter: number
    /** Per binding and row read back. */
    readonly down: number
  }
  /** Milliseconds the calibration took (after the GPU engine's interpreter was built). */
  readonly ms: number
}

/** Why a run goes where it goes. */
export interface Explanation {
  readonly backend: 'gpu' | 'cpu'
  readonly size: number
  /** Predicted ms of each backend (gpu absent without a WebGPU device), after this graph's own corrections. */
  readonly predicted: { readonly cpu: number; readonly gpu?: number }
  /** The CPU prediction's threads (1: the calling thread alone). */
  readonly threads: number
  /** The GPU tier the prediction assumed. */
  readonly tier?: 'fused' | 'interpreter'
  /** Measured / predicted so far for this graph, per backend (1: no runs yet). */
  readonly correction: { readonly cpu: number; readonly gpu: number }
  readonly cost: GraphCost
  /** The same, in a sentence. */
  readonly why: string
}

/**
 * A run's options: the CPU's and GPU's own (weights), the GPU engine's (RunOptions: sumsOnly, into,
 * tier, profile, transferOnly: any of them sends the run to the GPU), and `backend`.
 */
export interface AutoRunOptions extends RunOptions {
  /** Run on this backend whatever the model says. */
  readonly backend?: 'gpu' | 'cpu'
}

/** A run's results: from the GPU, also its tier (and totals, timings where asked for). */
export type AutoResults<I extends string = string, O extends string = string, P extends string = DefaultParams<I>> = Results<Float32Array, I, O, P> & Partial<Pick<GpuResults<I, O, P>, 'tier' | 'totals' | 'timings'>>

/** RunOptions only the GPU engine has: a run with any of them set goes to the GPU. */
const GPU_ONLY: readonly (keyof RunOptions)[] = ['sumsOnly', 'into', 'tier', 'profile', 'transferOnly']

/** The cost features of a program. */
export function graphCost(program: Program): GraphCost {
  const { graph, schedule } = program.levels
  let nodes = 0
  let work = 0
  let heavy = 0
  const kinds = new Map<string, Signature>()
  const perKind = new Map<string, number>()
  for (const id of schedule) {
    const kind = graph.kind(id)
    const cost = segmentCost(kind)
    if (!cost) continue
    nodes++
    work += cost
    if (cost >= HEAVY_COST) heavy += cost
    if (id >= program.forwardNodes) continue
    let consts = graph.args(id).map((a) => (!LIGHT.has(kind) && graph.kind(a) === 'const' ? graph.constValue(a) : undefined))
    let key = consts.some((c) => c !== undefined) ? `${kind}(${consts.map((c) => c ?? '_').join(',')})` : kind
    if (key !== kind && !kinds.has(key)) {
      const n = perKind.get(kind) ?? 0
      if (n >= SIGNATURES_PER_KIND) [key, consts] = [kind, consts.map(() => undefined)]
      else perKind.set(kind, n + 1)
    }
    const had = kinds.get(key)
    kinds.set(key, { kind, consts, count: (had?.count ?? 0) + 1 })
  }
  const inputs = program.inputs.filter((name) => !program.graph.isParam(name)).length
  return { nodes, work, heavy, kinds, inputs, rows: program.rows.length }
}

/** ms of a run on the CPU engine with `threads` threads, `compute` ms per binding on one. */
function cpuMs(c: Calibration['cpu'], cost: GraphCost, compute: number, size: number, threads: number, wasm: boolean): number {
  // Threads also copy their inputs into shared memory.
  const memory = size * (wasm ? c.wasmValue! : c.value) * (cost.inputs * (threads > 1 ? 2 : 1) + cost.rows)
  return (size * compute) / threads + memory + (threads > 1 ? c.fixed : 0)
}

function gpuMs(g: NonNullable<Calibration['gpu']>, cost: GraphCost, size: number, fused: boolean): number {
  const compute = g.base + g.light * (cost.work - cost.heavy) + g.heavy * cost.heavy
  return g.fixed + size * (g.up * cost.inputs + compute * (fused ? 1 : g.interpreter) + g.down * cost.rows)
}

/** A graph on both backends: each run goes where the model predicts it is faster. */
export class AutoKernel<I extends string = string, O extends string = string, P extends string = DefaultParams<I>> {
  readonly cost: GraphCost
  readonly #cpu: CpuKernel<Float32Array, I, O, P>
  readonly #gpu: Kernel<I, O, P> | undefined
  /** log(measured / predicted), running mean per backend, and runs counted. */
  readonly #log = { cpu: 0, gpu: 0 }
  readonly #runs = { cpu: 0, gpu: 0 }
  /** ms per binding of the generated JavaScript on one thread (from the engine's CpuCosts, at the first batch of SMALL_BATCH or more). */
  #compute: number | undefined
  readonly #costs: CpuCosts

  constructor(
    readonly graph: Graph<I, O, P>,
    readonly program: Program,
    cpu: CpuKernel<Float32Array, I, O, P>,
    gpu: Kernel<I, O, P> | undefined,
    readonly calibration: Calibration,
    costs: CpuCosts,
  ) {
    this.#costs = costs
    this.#cpu = cpu
    this.#gpu = gpu
    this.cost = graphCost(program)
  }

  /** Resolves once every backend this kernel may run on is built (the GPU's fused kernel). */
  get ready(): Promise<void> {
    return this.#gpu ? this.#gpu.ready : Promise.resolve()
  }

  /** Where a batch of `size` bindings would run now, and why. */
  explain(size: number): Explanation {
    if (!(Number.isInteger(size) && size >= 0)) throw new BindingError(`explain: the batch size must be an integer >= 0, got ${describe(size)}`)
    const { cpu, gpu } = this.calibration
    const cost = this.cost
    const correction = { cpu: Math.exp(this.#log.cpu), gpu: Math.exp(this.#log.gpu) }
    if (size < SMALL_BATCH) {
      const why = `CPU: a batch of ${size} bindings (under ${SMALL_BATCH}) goes to the CPU without a prediction${gpu ? `; a GPU run alone costs ~${gpu.fixed.toFixed(2)} ms` : ''}`
      return { backend: 'cpu', size, predicted: { cpu: Number.NaN }, threads: 1, correction, cost, why }
    }
    // The CPU kernel runs the faster of its wasm kernel (arithmetic only) and generated JavaScript,
    // alone or over threads: the prediction is the least of those.
    // A graph's first bindings of generated JavaScript run on the reference engine (V8 warms up).
    const js = this.#cpu.warmingUp(size) ? cost.nodes * cpu.reference : (this.#compute ??= this.#costs.compute(cost, this.program.jacobian))
    const ways = [{ compute: js, wasm: false }, ...(this.#cpu.wasm && cpu.wasmLight !== undefined ? [{ compute: cost.nodes * cpu.wasmLight, wasm: true }] : [])]
    const threadCounts = size >= 2 * MIN_PER_THREAD && cpu.threads > 1 ? [1, cpu.threads] : [1]
    let best = { ms: Infinity, threads: 1, wasm: false }
    for (const way of ways) {
      for (const threads of threadCounts) {
        const ms = cpuMs(cpu, cost, way.compute, size, threads, way.wasm)
        if (ms < best.ms) best = { ms, threads, wasm: way.wasm }
      }
    }
    const { threads, wasm } = best
    const cpuPredicted = best.ms * correction.cpu
    const fused = this.#gpu?.fusedReady ?? false
    const gpuPredicted = gpu && this.#gpu ? gpuMs(gpu, cost, size, fused) * correction.gpu : undefined
    const backend = gpuPredicted !== undefined && gpuPredicted < cpuPredicted ? 'gpu' : 'cpu'
    const warmingUp = this.#cpu.warmingUp(size)
    return {
      backend,
      size,
      predicted: { cpu: cpuPredicted, ...(gpuPredicted === undefined ? {} : { gpu: gpuPredicted }) },
      threads,
      ...(gpuPredicted === undefined ? {} : { tier: fused ? ('fused' as const) : ('interpreter' as const) }),
      correction,
      cost,
      // Written when read: every run asks explain() where to go, and only a person reads why.
      get why() {
        const f = (ms: number) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1))
        const gpuPart = gpuPredicted === undefined ? `no WebGPU device${gpu ? '' : ' (the engine has none)'}` : `GPU ${f(gpuPredicted)} ms (${fused ? 'fused kernel' : 'interpreter until the fused kernel is built'})`
        return (
          `${backend === 'gpu' ? 'GPU' : 'CPU'}: for ${size} bindings of ${cost.nodes} operations (${cost.inputs} inputs, ${cost.rows} rows) ` +
          `the model predicts CPU ${f(cpuPredicted)} ms (${threads === 1 ? 'the calling thread' : `${threads} threads`}${wasm ? ', WebAssembly SIMD' : warmingUp ? ', the reference engine while V8 warms up' : ''}) and ${gpuPart}`
        )
      },
    }
  }

  /** Values and Jacobians on the backend explain() picks (or `options.backend`), in Float32Array. */
  async run(bindings: Bindings<I>, options: AutoRunOptions = {}): Promise<AutoResults<I, O, P>> {
    const { backend: asked, ...run } = options
    if (asked !== undefined && asked !== 'gpu' && asked !== 'cpu') throw new BindingError(`backend must be 'gpu' or 'cpu', got ${describe(asked)}`)
    const gpuOnly = GPU_ONLY.filter((k) => run[k] !== undefined && run[k] !== false)
    if (asked === 'cpu' && gpuOnly.length) throw new BindingError(`backend 'cpu' cannot take the GPU engine's option${gpuOnly.length > 1 ? 's' : ''} ${gpuOnly.join(', ')}`)
    const { size, resident } = batchOf(this.graph, bindings)
    const needsGpu = asked === 'gpu' || resident || gpuOnly.length > 0
    if (needsGpu && !this.#gpu) throw new DeviceError(`this run needs the GPU (${asked === 'gpu' ? "backend: 'gpu'" : resident ? 'an input in a GPU buffer' : gpuOnly.join(', ')}), and this engine has no WebGPU device (see engine.gpuError)`, 'no-adapter')
    // (Bindings the backend's own check will refuse give no batch size: the CPU says what is wrong.)
    const plan = Number.isInteger(size) && size >= 0 ? this.explain(size) : undefined
    const backend = needsGpu ? 'gpu' : (asked ?? plan?.backend ?? 'cpu')
    const started = performance.now()
    const result = backend === 'gpu' ? await this.#gpu!.run(bindings, run) : await this.#cpu.run(bindings, { ...(run.weights === undefined ? {} : { weights: run.weights }), ...(run.signal ? { signal: run.signal } : {}), ...(run.onProgress ? { onProgress: run.onProgress } : {}) })
    const ms = performance.now() - started
    // Learn from runs the prediction was for: not a first run (compiling, warming up), not the
    // reference engine's warm-up bindings, not a GPU run on a tier the prediction did not assume.
    if (!plan) return result
    const uncorrected = (backend === 'gpu' ? plan.predicted.gpu! / plan.correction.gpu : plan.predicted.cpu / plan.correction.cpu) || 0
    // (Nor a watched run: its pauses and the caller's onProgress are in its time.)
    const comparable = !gpuOnly.length && !run.signal && !run.onProgress && (backend === 'cpu' ? !result.backend.includes('reference engine') : (result as AutoResults).tier === plan.tier)
    // (A backend's first runs compile, warm V8 up, or explore threads: they teach nothing.)
    if (this.#runs[backend]++ >= WARM_RUNS && comparable && uncorrected > 0 && size >= MIN_PER_THREAD) {
      const seen = Math.min(this.#runs[backend] - WARM_RUNS, 8)
      const ratio = Math.log(Math.min(4, Math.max(0.25, ms / uncorrected)))
      this.#log[backend] += (ratio - this.#log[backend]) / seen
    }
    return result
  }

  /** Frees the GPU kernel's own memory. */
  destroy(): void {
    this.#gpu?.destroy()
  }
}

/** The batch size (without reading any element: the backend's run checks the bindings) and whether an input is a GPU buffer. */
function batchOf(graph: Graph, bindings: Bindings): { size: number; resident: boolean } {
  let size = 1
  let resident = false
  if (bindings === null || typeof bindings !== 'object') return { size, resident }
  for (const name of graph.inputs) {
    const b = (bindings as Record<string, unknown>)[name]
    if (isGpuBinding(b)) {
      resident = true
      size = b.length
    } else if (typeof b === 'object' && b !== null && typeof (b as { length?: unknown }).length === 'number') size = (b as ArrayLike<number>).length
  }
  return { size, resident }
}

/**
 * Both engines and the model that picks between them: createEngine()'s default.
 *
 * @example
 * const engine = await createEngine()
 * engine.explain(g, 1 << 20).why     // 'GPU: for 1048576 bindings of ... the model predicts CPU ... and GPU ...'
 * (await engine.evaluate(g, b)).backend
 */
export class AutoEngine {
  readonly kind = 'auto'
  readonly #kernels = perGraph<AutoKernel>()

  constructor(
    /** The GPU engine, or undefined where WebGPU has no device (gpuError says why). */
    readonly gpu: GpuEngine | undefined,
    readonly cpu: CpuEngine<Float32Array>,
    readonly calibration: Calibration,
    /** Why there is no GPU engine. */
    readonly gpuError?: Error,
  ) {
    this.#costs = new CpuCosts(calibration.cpu.light)
  }

  readonly #costs: CpuCosts

  /** ms per binding the CPU model holds for each signature timed so far (jacobian programs: `pow(_,2)`, values only: `pow(_,2)/values`). */
  get cpuCosts(): ReadonlyMap<string, number> {
    return this.#costs.measured
  }

  get description(): string {
    return `auto: ${this.gpu ? this.gpu.description : `no WebGPU (${this.gpuError?.message ?? 'none'})`} | ${this.cpu.description}, ${this.calibration.cpu.threads} threads`
  }

  compile<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, options: CompileOptions = {}): AutoKernel<I, O, P> {
    const jacobian = options.jacobian ?? true
    return new AutoKernel(graph, programOf(graph, { jacobian }), this.cpu.compile(graph, { jacobian }), this.gpu?.compile(graph, { jacobian, ...(options.signal ? { signal: options.signal } : {}) }), this.calibration, this.#costs)
  }

  async evaluate<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, bindings: Bindings<I>, options: AutoRunOptions & CompileOptions = {}): Promise<AutoResults<I, O, P>> {
    const { jacobian = true, ...run } = options
    return this.#kernelFor(graph, jacobian).run(bindings, run)
  }

  /** Where evaluate(graph, B bindings) would run now, and why (the same kernel evaluate uses). */
  explain(graph: Graph, size: number, options: CompileOptions = {}): Explanation {
    return this.#kernelFor(graph, options.jacobian ?? true).explain(size)
  }

  destroy(): void {
    this.gpu?.destroy()
    this.cpu.destroy()
  }

  /** destroy(), for `using engine = await createEngine()`: work in flight rejects (DeviceError 'destroyed'). */
  [Symbol.dispose](): void {
    this.destroy()
  }

  /** Waits for the work in flight on both engines, then destroy(): `await using engine = await createEngine()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([this.gpu?.idle(), this.cpu[Symbol.asyncDispose]()])
    this.destroy()
  }

  #kernelFor<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, jacobian: boolean): AutoKernel<I, O, P> {
    return this.#kernels(graph, jacobian ? 'jacobian' : 'values', () => this.compile(graph, { jacobian })) as unknown as AutoKernel<I, O, P>
  }
}

/**
 * Creates both engines and calibrates the model. Without a WebGPU device every run goes to the CPU
 * engine (`gpuError` says why; explain() too).
 */
export async function createAutoEngine(options: GpuEngineOptions = {}): Promise<AutoEngine> {
  let gpu: GpuEngine | undefined
  let gpuError: Error | undefined
  try {
    // (The calibration's probes are not the caller's runs: maxHostBytes applies after it.)
    const { maxHostBytes: _, ...calibrating } = options
    gpu = await createGpuEngine(calibrating)
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e
    gpuError = e
  }
  const cpu = new CpuEngine<Float32Array>(CPU_BACKEND_F32, { output: 'float32', ...(options.maxHostBytes === undefined ? {} : { maxHostBytes: options.maxHostBytes }) })
  try {
    // The GPU engine builds its interpreter at creation: on a software adapter that compile shares
    // the CPU with the probes, so they wait for it (it is not counted as calibration).
    await gpu?.interpreter()
    const started = performance.now()
    const threads = await defaultThreads()
    const cpuRates = calibrateCpu(threads)
    const gpuRates = gpu ? await calibrateGpu(gpu) : undefined
    const calibration: Calibration = { cpu: cpuRates, ...(gpuRates ? { gpu: gpuRates } : {}), ms: performance.now() - started }
    if (gpu) gpu.maxHostBytes = options.maxHostBytes
    return new AutoEngine(gpu, cpu, calibration, gpuError)
  } catch (e) {
    gpu?.destroy()
    cpu.destroy()
    throw e
  }
}

/** Arithmetic kinds: the CPU model's `light` rate. Every other kind is timed on its own (CpuCosts). */
const LIGHT = new Set(['add', 'sub', 'mul', 'neg', 'div', 'abs', 'min', 'max', 'relu', 'where', 'gmadd', 'lt', 'le', 'gt', 'ge', 'eq', 'ne'])

/** Terms of a kind's probe graph. */
const TERMS = 16

/**
 * A probe graph: the sum of TERMS applications of `kind` to distinct affine functions of the inputs
 * (arguments in [0.1, 0.9]: inside every op's domain), or for 'light' a mix of arithmetic.
 */
function probeGraph(kind: string, consts: readonly (number | undefined)[] = [], terms = TERMS): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  const z = g.input('z')
  const inputs = [x, y, z]
  let sum: Expr | undefined
  for (let k = 0; k < terms; k++) {
    const arg = (i: number) => inputs[i]!.mul(0.5 + (0.37 * ((k + i) % 7)) / 7).add(0.1 + (0.03 * ((3 * k + i) % 5)) / 5)
    const arity = kind === 'light' ? 2 : (OPS as Record<string, OpSpec>)[kind]!.arity
    const term = kind === 'light' ? arg(0).mul(arg(1)).sub(arg(2).mul(arg(0))) : g.apply(kind as OpName, Array.from({ length: arity }, (_, i) => consts[i] ?? arg(i)))
    sum = sum ? sum.add(term) : term
  }
  g.output('f', sum!)
  return g
}

/** Probe inputs in [0, 1), seeded. */
function probeInputs(size: number, count = 3): Float32Array[] {
  const next = mulberry32(12345)
  return Array.from({ length: count }, () => Float32Array.from({ length: size }, next))
}

/** Bindings the CPU probes run per timing: one long loop, which V8 optimizes early on (on-stack replacement). */
const CPU_PROBE = 1 << 14

/** ms per binding of a program's compiled JavaScript on this thread: the best of three after one run that warms it. */
function cpuProbe(program: Program, inputs: readonly Float32Array[], size = CPU_PROBE, fresh = false, wasm = false): number {
  const run = wasm ? emitWasm(program)! : emitJs(program)
  const kept = program.rows.map(() => new Float32Array(size))
  run(inputs, kept, 0, size)
  let best = Infinity
  for (let i = 0; i < 3; i++) {
    const rows = fresh ? program.rows.map(() => new Float32Array(size)) : kept
    const t = performance.now()
    run(inputs, rows, 0, size)
    best = Math.min(best, performance.now() - t)
  }
  return best / size
}

/**
 * The CPU model's cost per node by kind: `light` for arithmetic, every other kind timed once (its
 * probe graph against the light probe's, TERMS nodes apart) when a graph first has it.
 */
class CpuCosts {
  readonly measured = new Map<string, number>()
  readonly #inputs = probeInputs(CPU_PROBE)
  #lightProbe = new Map<boolean, number>()

  constructor(readonly light: number) {}

  /** ms per binding of a graph of these kinds. */
  compute(cost: GraphCost, jacobian: boolean): number {
    let ms = 0
    for (const [key, { kind, consts, count }] of cost.kinds) ms += count * (LIGHT.has(kind) ? this.light : this.#kind(key, kind, consts, jacobian))
    return ms
  }

  #kind(signature: string, kind: string, consts: readonly (number | undefined)[], jacobian: boolean): number {
    const key = jacobian ? signature : `${signature}/values`
    let ms = this.measured.get(key)
    if (ms === undefined) {
      try {
        const light = this.#lightProbe.get(jacobian) ?? this.#lightProbe.set(jacobian, cpuProbe(programOf(probeGraph('light'), { jacobian }), this.#inputs)).get(jacobian)!
        const probe = cpuProbe(programOf(probeGraph(kind, consts), { jacobian }), this.#inputs)
        // The light probe's terms have 3 nodes (x·y − z·x) where this one's have 1.
        ms = Math.max(this.light, (probe - light) / TERMS + 3 * this.light)
      } catch {
        // A custom op without derivatives (or with a narrow domain): count it as 20 arithmetic nodes.
        ms = 20 * this.light
      }
      this.measured.set(key, ms)
    }
    return ms
  }
}

/** ms per binding and program node of the reference engine (evaluateProgram), on a probe's program: the best of three after a warm-up. */
function referenceRate(program: Program): number {
  const size = 1 << 12
  const inputs = probeInputs(size)
  const rows = program.rows.map(() => new Float64Array(size))
  evaluateProgram(program, inputs, rows, 0, size)
  let ms = Infinity
  for (let i = 0; i < 3; i++) {
    const t = performance.now()
    evaluateProgram(program, inputs, rows, 0, size)
    ms = Math.min(ms, performance.now() - t)
  }
  return ms / size / graphCost(program).nodes
}

/** CPU rates: the light probe (per arithmetic node) and one addition into fresh result arrays (memory), ~20 ms. */
function calibrateCpu(threads: number): Calibration['cpu'] {
  const light = programOf(probeGraph('light'))
  let count = 0
  for (const { count: n } of graphCost(light).kinds.values()) count += n
  const lightInputs = probeInputs(CPU_PROBE)
  const lightMs = cpuProbe(light, lightInputs) / count
  const memory = programOf(parse('f = x + y'))
  const size = 1 << 18
  const memoryInputs = probeInputs(size, 2)
  const cost = graphCost(memory)
  const valueMs = Math.max(0, cpuProbe(memory, memoryInputs, size, true) - lightMs) / (cost.inputs + cost.rows)
  const rates = { light: lightMs, value: valueMs, reference: referenceRate(light), threads, fixed: 0.3 }
  // The same probes as wasm SIMD kernels, where this runtime has them (an arithmetic-only graph's CPU kernel).
  if (!emitWasm(light)) return rates
  const wasmLight = cpuProbe(light, lightInputs, CPU_PROBE, false, true) / count
  const wasmValue = Math.max(0, cpuProbe(memory, memoryInputs, size, true, true) - wasmLight) / (cost.inputs + cost.rows)
  return { ...rates, wasmLight, wasmValue }
}

/**
 * GPU rates. Three probes' fused kernels (one addition, the light probe at 64 terms, the tanh
 * probe), each at two batch sizes, every run profiled (upload, dispatch, readback serialized) and
 * the best of two taken; per-binding rates are the differences between the sizes, so a stage's
 * fixed cost does not count per binding (it dominates small batches on a real GPU). A kernel costs `base` per binding
 * (launch, loads and stores: on a software adapter 15 ns, more than a 6-node graph's arithmetic)
 * plus `light` per unit of arithmetic and `heavy` per unit of transcendentals. The interpreter's
 * factor comes from the tanh probe; the fixed cost from a one-binding run, end to end.
 */
async function calibrateGpu(engine: GpuEngine): Promise<NonNullable<Calibration['gpu']>> {
  const [small, large, interpreted] = [1 << 13, 1 << 17, 1 << 15]
  const inputs = probeInputs(large)
  const at = (size: number) => ({ x: inputs[0]!.subarray(0, size), y: inputs[1]!.subarray(0, size), z: inputs[2]!.subarray(0, size) })
  const per = (a: number, b: number, n: number) => Math.max(0, (b - a) / n)
  // (Built at the engine's creation: on a software adapter its compile shares the CPU with the probes.)
  await engine.interpreter()
  const tiny = new Graph()
  tiny.output('f', tiny.input('x').mul(tiny.input('y')).add(tiny.input('z')))
  // (64 terms: the light probe's kernel must take clearly longer than the tiny one's, or noise decides the rate.)
  const kernels = [engine.compile(tiny), engine.compile(probeGraph('light', [], 64)), engine.compile(probeGraph('tanh'))] as const
  try {
    await Promise.all(kernels.map((k) => k.ready))
    const best = async (kernel: Kernel, tier: 'fused' | 'interpreter', size: number) => {
      const runs: Timings[] = []
      for (let i = 0; i < 2; i++) runs.push((await kernel.run(at(size), { tier, profile: true })).timings!)
      const min = (f: (t: Timings) => number) => Math.min(...runs.map(f))
      return { upload: min((t) => t.upload), dispatch: min((t) => t.dispatch), readback: min((t) => t.readback) }
    }
    const rates: { dispatch: number; upload: number; readback: number; cost: GraphCost }[] = []
    for (const kernel of kernels) {
      // The first run of a kernel finishes its compile on a software adapter.
      await kernel.run(at(small), { tier: 'fused' })
      const a = await best(kernel, 'fused', small)
      const b = await best(kernel, 'fused', large)
      const n = large - small
      rates.push({ dispatch: per(a.dispatch, b.dispatch, n), upload: per(a.upload, b.upload, n), readback: per(a.readback, b.readback, n), cost: graphCost(kernel.program) })
    }
    const [t, l, h] = rates as [(typeof rates)[0], (typeof rates)[0], (typeof rates)[0]]
    const light = Math.max(1e-12, (l.dispatch - t.dispatch) / (l.cost.work - t.cost.work))
    const base = Math.max(0, t.dispatch - light * t.cost.work)
    const heavy = Math.max(light, (h.dispatch - base - light * (h.cost.work - h.cost.heavy)) / h.cost.heavy)
    // The interpreter against the fused kernel, on the tanh probe.
    const probe = kernels[2]
    await probe.run(at(small), { tier: 'interpreter' })
    const i1 = await best(probe, 'interpreter', small)
    const i2 = await best(probe, 'interpreter', interpreted)
    await probe.run(at(1), { tier: 'fused' })
    const started = performance.now()
    await probe.run(at(1), { tier: 'fused' })
    const fixed = performance.now() - started
    return {
      fixed,
      up: l.upload / l.cost.inputs,
      base,
      light,
      heavy,
      interpreter: Math.max(1, per(i1.dispatch, i2.dispatch, interpreted - small) / Math.max(1e-12, h.dispatch)),
      down: l.readback / l.cost.rows,
    }
  } finally {
    for (const k of kernels) k.destroy()
  }
}
