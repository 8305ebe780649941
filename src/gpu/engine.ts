/**
 * GPU engine: run. In: a Graph and bindings. Out: the same Results as evaluateCpu, in Float32Array,
 * computed by WGSL compute shaders, with the adapter named in `backend` — or the same rows left in a
 * GPUBuffer (runToBuffer) for a render pass, with no readback.
 *
 * Lifecycle: compile() levelizes, plans and emits WGSL at once and starts the pipeline build
 * (async, cached by WGSL text, finished by a warm-up dispatch because software adapters compile at
 * first dispatch). A run uploads tile by tile into two alternating buffer slots so that tile i's
 * readback overlaps tile i+1's upload and compute; buffers grow only and are reused across runs.
 * Runs on one engine are serialized (they share the slots).
 *
 * Errors are never silent: every object creation and submission sits in validation and
 * out-of-memory error scopes; uncaptured errors and device loss fail the call with DeviceError; a
 * WGSL error raises ShaderError with line:column and the source.
 */
import { isGpuBinding, type BindingSource, type Bindings, type CheckedBindings } from '../bindings.js'
import { kernelSources, type KernelSource } from '../codegen/wgsl.js'
import type { Graph } from '../graph.js'
import { levelize } from '../levelize.js'
import { COST_BUDGET, dispatchGrid, HARDWARE_COST_BUDGET, planKernels, tileSize, WORKGROUP_SIZE } from '../plan.js'
import { CHUNK_BYTES, emitInterpreterWgsl, INTERPRETER_WORKGROUP, interpreterTileLimit, LANES_PER_THREAD, registerBytes } from '../codegen/interpreter.js'
import { interpreterBindGroupLayout, kernelBindGroupLayout, scratchBindGroupLayout, SlotPool, STORAGE, UNIFORM, type Slot, type UploadStaging } from './buffers.js'
import { acquireDevice, type AcquiredDevice, type DeviceOptions } from './device.js'
import { DeviceError, ShaderError } from './errors.js'
import { CHUNK, LANES, REDUCE_WGSL, reduceBindGroupLayout } from './reduce.js'
import { OP_NAMES } from '../ops.js'
import { checkTier, Kernel, type FusedBuild, type GpuResidentResults, type GpuResults, type RunOptions, type Tier, type ToBufferOptions, type Timings } from './kernel.js'
import { BindingError } from '../errors.js'
import { describe } from '../graph.js'

/** Default cap on bindings per tile: large enough to fill a GPU, small enough to pipeline. */
const DEFAULT_TILE = 1 << 20
/** Tiles shrink (halving) down to this after an out-of-memory allocation before the run gives up. */
const MIN_TILE = 1024
/** A fused kernel that fails to build is cut finer (a quarter of its cost) down to this cost. */
const MIN_RETRY_COST = 256
/**
 * A software adapter's register file (the interpreter's registers, a segmented kernel's scratch):
 * made and zeroed with the interpreter, and interpreter tiles sized to fit it, so that a new
 * graph's first run does not pay for a new one (~0.3-0.5 s for 2 x 128 MiB on lavapipe).
 */
const SOFTWARE_REGISTER_FILE = 128 * 2 ** 20

export interface GpuEngineOptions extends DeviceOptions {
  /** Largest number of bindings per tile (default 2^20; device limits may lower it). */
  readonly maxTileSize?: number
  /** Print each kernel's plan and WGSL (also: env WAVEGRAD_DEBUG=1). */
  readonly debug?: boolean
  /**
   * How inputs in JS arrays reach the GPU. 'writeBuffer': queue.writeBuffer, through the
   * implementation's own staging memory. 'staging': written into a mapped buffer each slot keeps,
   * and copied from there; the buffer is reused run after run. Default: 'staging' on a GPU (on an
   * H100, f = a*b + c*d at B = 2^20 ran in 9.9 ms against 22.3 ms, the upload 3.5 ms against 21.7),
   * 'writeBuffer' on a software adapter (there 'staging' is slower: its buffers live in host memory
   * and writeBuffer fills them with one copy). bench/upload.ts measures both; `engine.upload` says
   * which one an engine uses.
   */
  readonly upload?: 'staging' | 'writeBuffer'
  /**
   * 'fused' (default): every graph gets its own fused kernel. 'interpreter': every graph runs on
   * one tape interpreter, compiled once per engine (no per-graph compile). 'auto': a new graph runs
   * on the interpreter until its fused kernel is built, then on the fused kernel. The interpreter
   * is built at engine creation unless the tier is 'fused' (on a software adapter, with its
   * register file: 128 MiB, or the device's storage binding limit if lower). On the software adapter the
   * interpreter runs ~15-20x slower than a fused kernel at 1,000 nodes (bench/RESULTS.md), so 'auto' pays
   * off where a fused compile takes seconds (graphs of hundreds of nodes and more).
   */
  readonly tier?: Tier
  /**
   * Largest compile cost of one fused kernel: a bigger graph is cut into segments, one kernel each.
   * Infinity: always one kernel (unless the driver cannot build it: then it is cut finer). Default:
   * plan.ts COST_BUDGET on a software adapter, HARDWARE_COST_BUDGET on a GPU (measured on both).
   */
  readonly segmentCost?: number
  /**
   * Most compiled pipelines kept for reuse (default 128, least recently used evicted first). A
   * kernel keeps its own pipelines however many are cached; eviction only means a later compile of
   * the same WGSL builds it again.
   */
  readonly pipelineCacheSize?: number
  /**
   * Most interpreter tapes kept on the GPU (default 64, least recently used freed first; a freed
   * tape is uploaded again by its kernel's next interpreter run).
   */
  readonly tapeCacheSize?: number
}

/** What a compiled kernel computes. */
export interface CompileOptions {
  /** false: values only (one row per output, no reverse sweep): forward mode's JVP graphs, predictions. */
  readonly jacobian?: boolean
}

/** evaluate(): a run's options, and whether to compute Jacobians (see CompileOptions). */
export interface EvaluateOptions extends RunOptions, CompileOptions {}

/** Where a run's rows go: into Float32Arrays (readback) or into a GPUBuffer of rows × size floats. */
export type Sink =
  | {
      readonly kind: 'readback'
      /** One array per plan row; undefined for a row not read back (a parameter's, summed instead). */
      readonly rows: readonly (Float32Array | undefined)[]
      /** Parameter rows summed on the GPU: their plan row indices, and float64 totals (added to). */
      readonly sums?: { readonly rows: readonly number[]; readonly totals: Float64Array }
    }
  | { readonly kind: 'buffer'; readonly buffer: GPUBuffer }

/** Everything one run's tile loop needs (see GpuEngine.execute). */
interface TileRun {
  readonly kernel: Kernel
  /** In dispatch order: the interpreter, a fused kernel, or a segmented plan's kernels. */
  readonly pipelines: readonly GPUComputePipeline[]
  readonly sources: readonly BindingSource[]
  readonly size: number
  readonly tile: number
  readonly sink: Sink
  readonly profile: boolean
  /** false for transferOnly runs. */
  readonly compute: boolean
  readonly timings: Timings
  /** Per slot: the readback (or check) in flight; execute() settles these. */
  readonly pending: (Promise<void> | undefined)[]
  /** The interpreter's tape, for an interpreter run. */
  readonly tape: { readonly registers: number; readonly chunks: number } | undefined
  /** Scratch words per binding of a segmented fused plan (0 otherwise). */
  readonly scratchRows: number
  /** Per input: 1 for an array, 0 for a broadcast number. */
  readonly steps: Uint32Array<ArrayBuffer>
  /** Per-binding weights of the parameter sums (one more row of the inputs buffer), if any. */
  readonly weights: BindingSource | undefined
  /** The reduction pipeline, when the sink sums parameter rows. */
  readonly reducer: GPUComputePipeline | undefined
}

/** The error of a call whose engine was destroyed while it was in flight. */
function destroyedInFlight(): DeviceError {
  return new DeviceError('this GPU engine was destroyed while the call was in flight; create a new one', 'destroyed')
}

/** A positive integer option (or its default); a BindingError naming it otherwise. */
function checkedOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new BindingError(`${name} must be a positive integer, got ${describe(value)}`)
  return value
}

/**
 * Creates a GPU engine on the best available WebGPU device.
 *
 * @example
 * const engine = await createGpuEngine()
 * const r = await engine.evaluate(parse('f = x*y'), { x: new Float32Array([1, 2]), y: new Float32Array([3, 4]) })
 * r.jacobian.f.x   // Float32Array [3, 4]
 * engine.destroy()
 */
export async function createGpuEngine(options: GpuEngineOptions = {}): Promise<GpuEngine> {
  return new GpuEngine(await acquireDevice(options), options)
}

export class GpuEngine {
  readonly kind = 'gpu'
  readonly device: GPUDevice
  /** The adapter, in words; every result's `backend` says it. */
  readonly description: string
  /** A software adapter (lavapipe, SwiftShader, WARP): the upload and segment defaults follow it. */
  readonly software: boolean
  readonly #owned: boolean
  readonly #keepAlive: unknown
  readonly #maxTile: number
  readonly #debug: boolean
  /** Inputs go through the slots' upload buffers (option upload: 'staging'). */
  readonly #staged: boolean
  readonly #pipelineLayout: GPUPipelineLayout
  readonly #interpreterLayout: GPUBindGroupLayout
  readonly #interpreterPipelineLayout: GPUPipelineLayout
  readonly #segmentedLayout: GPUPipelineLayout
  readonly #segmentCost: number
  #interpreter: Promise<GPUComputePipeline> | undefined
  /** How many ops the interpreter was built for. */
  #interpreterOps = 0
  #reducer: Promise<GPUComputePipeline> | undefined
  readonly #reduceLayout: GPUBindGroupLayout
  /** The tier runs use unless they ask for another. */
  readonly tier: Tier
  readonly #slots: SlotPool
  /** Pipelines by WGSL text, in least-recently-used order (the first is evicted first). */
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>()
  readonly #pipelineCacheSize: number
  /** Kernels whose interpreter tape is on the GPU, least recently used first. */
  readonly #tapes = new Set<Kernel>()
  readonly #tapeCacheSize: number
  /** Lowered after an out-of-memory allocation: later runs start with tiles no larger. */
  #tileCap = Infinity
  /** Calls waiting on the device (see #unlessBroken), failed at once when it is lost or the engine destroyed. */
  readonly #waiting = new Set<(e: DeviceError) => void>()
  /** evaluate()'s kernels per graph: with Jacobians, and values only. */
  readonly #kernels = new WeakMap<Graph, { version: number; kernel: Kernel }>()
  readonly #valueKernels = new WeakMap<Graph, { version: number; kernel: Kernel }>()
  readonly #uncaptured: string[] = []
  /**
   * Every call wavegrad makes sits in error scopes, so an uncaptured error is someone else's: on
   * the engine's own device that cannot happen and fails the next run (never silent); on a device
   * the caller supplied it is the caller's (their listener and console see it), not ours to fail.
   */
  readonly #onError = (e: Event) => {
    if (this.#owned) this.#uncaptured.push((e as GPUUncapturedErrorEvent).error.message)
  }
  #scratch = new Float32Array(0)
  /** Bytes of register file an interpreter tile may use (see SOFTWARE_REGISTER_FILE). */
  readonly #registerFile: number
  #queue: Promise<unknown> = Promise.resolve()
  #lost: DeviceError | undefined
  #destroyed = false

  constructor(acquired: AcquiredDevice, options: GpuEngineOptions = {}) {
    this.device = acquired.device
    this.description = acquired.description
    this.software = acquired.software
    this.#owned = acquired.owned
    this.#keepAlive = acquired.keepAlive
    this.#maxTile = checkedOption('maxTileSize', options.maxTileSize, DEFAULT_TILE)
    const { maxStorageBufferBindingSize, maxBufferSize } = this.device.limits
    this.#registerFile = Math.min(maxStorageBufferBindingSize, maxBufferSize, acquired.software ? SOFTWARE_REGISTER_FILE : Infinity)
    this.#segmentCost = options.segmentCost ?? (acquired.software ? COST_BUDGET : HARDWARE_COST_BUDGET)
    this.#pipelineCacheSize = checkedOption('pipelineCacheSize', options.pipelineCacheSize, 128)
    this.#tapeCacheSize = checkedOption('tapeCacheSize', options.tapeCacheSize, 64)
    if (options.upload !== undefined && options.upload !== 'staging' && options.upload !== 'writeBuffer') {
      throw new BindingError(`upload must be 'staging' or 'writeBuffer', got ${describe(options.upload)}`)
    }
    this.#staged = options.upload === undefined ? !acquired.software : options.upload === 'staging'
    if (options.segmentCost !== undefined && !(typeof options.segmentCost === 'number' && options.segmentCost >= 1)) {
      throw new BindingError(`segmentCost must be a number ≥ 1 (or Infinity), got ${describe(options.segmentCost)}`)
    }
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    this.#debug = options.debug ?? env?.WAVEGRAD_DEBUG === '1'
    this.device.addEventListener('uncapturederror', this.#onError)
    void this.device.lost.then((info) => {
      if (this.#destroyed) return
      this.#lost = new DeviceError(`the GPU device was lost (${info.reason}): ${info.message}; create a new engine`, 'lost')
      this.#breakWith(this.#lost)
    })
    const layout = kernelBindGroupLayout(this.device)
    this.#pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout] })
    this.#interpreterLayout = interpreterBindGroupLayout(this.device)
    this.#interpreterPipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout, this.#interpreterLayout] })
    this.#reduceLayout = reduceBindGroupLayout(this.device)
    const scratchLayout = scratchBindGroupLayout(this.device)
    this.#segmentedLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout, scratchLayout] })
    this.#slots = new SlotPool(this.device, layout, scratchLayout)
    this.tier = checkTier(options.tier) ?? 'fused'
    // Built now, in the background, where it may run a graph's first evaluation.
    if (this.tier !== 'fused') void this.interpreter().catch(() => undefined)
  }

  /** The interpreter pipeline, built on first use (at creation unless the tier is 'fused'). */
  interpreter(): Promise<GPUComputePipeline> {
    // Built again after registerOp added ops (old tapes stay valid: opcodes never move).
    if (this.#interpreterOps !== OP_NAMES.length) this.#interpreter = undefined
    if (!this.#interpreter) {
      this.#interpreterOps = OP_NAMES.length
      const building = this.#buildPipeline(emitInterpreterWgsl(), 'interpreter')
      this.#interpreter = building
      building.catch(() => {
        if (this.#interpreter === building) this.#interpreter = undefined
      })
    }
    return this.#interpreter
  }

  /** The parameter-gradient reduction (gpu/reduce.ts), built on first use. */
  #reduction(): Promise<GPUComputePipeline> {
    if (!this.#reducer) {
      const device = this.device
      const building = (async () => {
        const [module, created] = this.#guard(() => device.createShaderModule({ code: REDUCE_WGSL }), 'reduction shader creation failed')
        await created
        const layout = device.createPipelineLayout({ bindGroupLayouts: [this.#reduceLayout] })
        try {
          return await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' } })
        } catch (e) {
          throw this.#lost ?? new DeviceError(`reduction pipeline creation failed: ${(e as Error).message}`)
        }
      })()
      this.#reducer = building
      building.catch(() => {
        if (this.#reducer === building) this.#reducer = undefined
      })
    }
    return this.#reducer
  }

  /** A bind group for the interpreter's group 1 (a kernel caches it per register file); one tape chunk at a time. */
  interpreterBindGroup(tape: GPUBuffer, consts: GPUBuffer, regs: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.#interpreterLayout,
      entries: [
        { binding: 0, resource: { buffer: tape, size: CHUNK_BYTES } },
        { binding: 1, resource: { buffer: consts } },
        { binding: 2, resource: { buffer: regs } },
      ],
    })
  }

  /**
   * What the engine holds on the GPU now: buffers (count, bytes: buffer slots, the register file
   * and interpreter tapes), cached pipelines and tapes. Bounded by the tile size, the device's
   * storage binding limit and the two cache sizes.
   */
  stats(): { buffers: number; bufferBytes: number; pipelines: number; tapes: number } {
    let { buffers, bufferBytes } = this.#slots.stats()
    for (const k of this.#tapes) {
      const t = k.heldTape()
      if (!t) continue
      buffers += 2
      bufferBytes += t.tape.size + t.consts.size
    }
    return { buffers, bufferBytes, pipelines: this.#pipelines.size, tapes: this.#tapes.size }
  }

  /** Records that `kernel` holds a tape on the GPU (most recently used), freeing the oldest beyond the cap. */
  noteTape(kernel: Kernel): void {
    this.#tapes.delete(kernel)
    this.#tapes.add(kernel)
    for (const old of this.#tapes) {
      if (this.#tapes.size <= this.#tapeCacheSize) break
      this.#tapes.delete(old)
      old.destroy()
    }
  }

  /** Forgets a kernel's tape (its kernel freed it). */
  forgetTape(kernel: Kernel): void {
    this.#tapes.delete(kernel)
  }

  /** How this engine uploads inputs (the option, or the adapter's default). */
  get upload(): 'staging' | 'writeBuffer' {
    return this.#staged ? 'staging' : 'writeBuffer'
  }

  /** The segment budget this engine plans fused kernels with (the option, or the adapter's default). */
  get segmentCost(): number {
    return this.#segmentCost
  }

  /** The device limits tiling reads. */
  get limits(): GPUSupportedLimits {
    return this.device.limits
  }

  /**
   * Plans and emits the kernel for a graph and starts building its pipeline (await `.ready`, or
   * just call `.run`). The graph's structure at this moment is what the kernel computes.
   */
  compile(graph: Graph, options: CompileOptions = {}): Kernel {
    this.#check()
    const levels = levelize(graph)
    const plan = planKernels(levels, { segmentCost: this.#segmentCost, jacobian: options.jacobian ?? true })
    const one = (wgsl: string, group1: 'none' | 'scratch') => {
      let pipeline = this.#pipelines.get(wgsl)
      if (pipeline) {
        // Most recently used goes last.
        this.#pipelines.delete(wgsl)
      } else {
        pipeline = this.#buildPipeline(wgsl, group1)
        const built = pipeline
        pipeline.catch(() => {
          if (this.#pipelines.get(wgsl) === built) this.#pipelines.delete(wgsl)
        })
      }
      this.#pipelines.set(wgsl, pipeline)
      for (const oldest of this.#pipelines.keys()) {
        if (this.#pipelines.size <= this.#pipelineCacheSize) break
        this.#pipelines.delete(oldest)
      }
      return pipeline
    }
    const jacobian = plan.jacobian
    const build = async (sources: readonly KernelSource[]): Promise<FusedBuild> => {
      let built = { plan, sources }
      for (;;) {
        const group1 = built.plan.scratch ? 'scratch' : 'none'
        try {
          return { ...built, pipelines: await Promise.all(built.sources.map((k) => one(k.wgsl, group1))) }
        } catch (e) {
          // A driver that cannot build a kernel this big (NVIDIA's runs out of local memory between
          // ~2,000 and ~4,000 nodes: VK_ERROR_UNKNOWN) gets the graph cut into smaller segments.
          const largest = Math.max(...built.plan.kernels.map((k) => k.cost))
          if (!(e instanceof DeviceError) || e.reason !== 'internal' || this.#lost || this.#destroyed || largest <= MIN_RETRY_COST) throw e
          const budget = Math.floor(largest / 4)
          if (this.#debug) console.error(`[wavegrad] a fused kernel of cost ${largest} failed to build (${e.message.split('\n')[0]}); cutting by ${budget}`)
          const finer = planKernels(levels, { segmentCost: budget, jacobian })
          built = { plan: finer, sources: kernelSources(levels, finer) }
        }
      }
    }
    const kernel = new Kernel(this, graph, levels, plan, () => kernelSources(levels, plan), build)
    if (this.#debug) {
      const { scratch, ...summary } = plan
      console.error(`[wavegrad] plan ${JSON.stringify({ ...summary, scratchRows: scratch?.rows ?? 0 })}`)
      for (const k of kernel.sources) console.error(`[wavegrad] WGSL, segment ${k.segment} ${k.phase}\n${k.wgsl}`)
    }
    return kernel
  }

  /** compile (cached per graph and version) + run: values and Jacobians read back. */
  async evaluate(graph: Graph, bindings: Bindings, options: EvaluateOptions = {}): Promise<GpuResults> {
    const { jacobian, ...run } = options
    return this.#kernelFor(graph, jacobian ?? true).run(bindings, run)
  }

  /** compile (cached) + runToBuffer: the rows stay on the GPU (see Kernel.runToBuffer). */
  async evaluateToBuffer(graph: Graph, bindings: Bindings, options: ToBufferOptions = {}): Promise<GpuResidentResults> {
    return this.#kernelFor(graph, true).runToBuffer(bindings, options)
  }

  /** Frees the engine's buffers (and its device, unless the caller supplied it). */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#breakWith(destroyedInFlight())
    this.device.removeEventListener('uncapturederror', this.#onError)
    for (const k of [...this.#tapes]) k.destroy()
    this.#pipelines.clear()
    this.#slots.destroy()
    if (this.#owned) this.device.destroy()
    void this.#keepAlive
  }

  /** Serializes runs (they share the buffer slots); fails fast on a destroyed or lost engine. */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#check()
      return f()
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  /**
   * One run of a compiled kernel over all tiles of a batch, rows into `sink`. Call inside
   * exclusive(). Returns stage timings when options.profile is set.
   */
  async execute(kernel: Kernel, bindings: CheckedBindings, sink: Sink, options: RunOptions, tier: 'fused' | 'interpreter', weights?: BindingSource): Promise<Timings | undefined> {
    const { size, sources } = bindings
    const profile = options.profile ?? false
    const compute = !options.transferOnly
    const pipelines = await this.#unlessBroken(tier === 'fused' ? kernel.pipelines : this.interpreter().then((p) => [p]))
    const reducer = sink.kind === 'readback' && sink.sums ? await this.#unlessBroken(this.#reduction()) : undefined
    this.#check()
    if (size === 0) return undefined
    const t0 = performance.now()
    let tape: ReturnType<Kernel['tapeBuffers']> | undefined
    if (tier === 'interpreter') {
      const [t, uploaded] = this.#guard(() => kernel.tapeBuffers(), 'uploading the interpreter tape failed')
      await uploaded
      tape = t
    }
    // A segmented plan's kernels always bind a scratch (group 1), even when nothing crosses a cut
    // (values-only segments that share no values).
    const scratchRows = tape || !kernel.plan.scratch ? 0 : Math.max(1, kernel.plan.scratch.rows)
    const steps = new Uint32Array(sources.map((s) => (typeof s === 'number' ? 0 : 1)))
    for (;;) {
      let tile = tileSize(kernel.plan, this.device.limits, size, Math.min(this.#maxTile, this.#tileCap), tape?.registers ?? scratchRows)
      // The register file is padded to whole workgroups: keep it within one binding too.
      if (tape) tile = Math.max(1, Math.min(tile, interpreterTileLimit(tape.registers, this.#registerFile)))
      if (this.#scratch.length < tile) this.#scratch = new Float32Array(tile)
      const timings: Timings = { upload: 0, dispatch: 0, readback: 0, total: 0, tiles: 0 }
      const pending: (Promise<void> | undefined)[] = [undefined, undefined]
      // A retry starts the sums again.
      if (sink.kind === 'readback') sink.sums?.totals.fill(0)
      try {
        try {
          await this.#tiles({ kernel, pipelines, sources, size, tile, sink, profile, compute, timings, pending, tape, scratchRows, steps, weights, reducer })
        } finally {
          // Let the other slot's readback finish before the next run may reuse (and map) its buffers.
          await Promise.allSettled(pending)
        }
        await Promise.all(pending)
        this.#throwIfBroken()
      } catch (e) {
        // Out of memory: free the slots and run again with tiles half as large (every row is
        // written again, so nothing of the failed attempt survives); below MIN_TILE, report it.
        if (!(e instanceof DeviceError && e.reason === 'out-of-memory') || tile <= MIN_TILE || this.#lost || this.#destroyed) throw e
        this.#slots.destroy()
        this.#tileCap = Math.max(MIN_TILE, Math.floor(tile / 2))
        if (this.#debug) console.error(`[wavegrad] out of GPU memory at ${tile} bindings per tile; retrying with ${this.#tileCap}`)
        continue
      }
      timings.total = performance.now() - t0
      return profile ? timings : undefined
    }
  }

  /**
   * `p`, unless the device is lost or the engine destroyed first (then that DeviceError). Not a
   * Promise.race against a long-lived promise: that would keep one reaction per call forever.
   */
  #unlessBroken<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject)
      p.then(resolve, reject).finally(() => this.#waiting.delete(reject))
    })
  }

  #breakWith(e: DeviceError): void {
    for (const fail of this.#waiting) fail(e)
    this.#waiting.clear()
  }

  /** The tile loop of execute(). */
  async #tiles(run: TileRun): Promise<void> {
    const { kernel, pipelines, sources, size, tile, sink, profile, compute, timings, pending, tape, scratchRows, steps, weights, reducer } = run
    const { plan } = kernel
    const device = this.device
    const limits = device.limits
    const nIn = plan.inputs.length
    const inRows = nIn + (weights === undefined ? 0 : 1)
    const rowCount = plan.rows.length
    const outBytes = rowCount * tile * 4
    // Readback: every row in one copy, or (with parameter sums) the rows read back one by one and
    // the partial sums after them.
    const sums = sink.kind === 'readback' ? sink.sums : undefined
    const readRows = sink.kind === 'readback' ? plan.rows.map((_, r) => r).filter((r) => sink.rows[r] !== undefined) : []
    const chunks = Math.ceil(tile / CHUNK)
    const sumWords = sums ? sums.rows.length * chunks * LANES : 0
    const stagingBytes = sums ? (readRows.length * tile + sumWords) * 4 : outBytes
    // The tile's input rows: the inputs, then the weights. Those in JS arrays go through the slot's
    // upload buffer (option upload: 'staging').
    const rows = weights === undefined ? sources : [...sources, weights]
    const staged = this.#staged && rows.some((src) => typeof src !== 'number' && !isGpuBinding(src))
    for (let start = 0, t = 0; start < size; start += tile, t++) {
      const len = Math.min(tile, size - start)
      const k = t % 2
      if (pending[k]) await pending[k]
      this.#check()
      let allocation: [readonly [Slot, GPUBindGroup | undefined, UploadStaging | undefined], Promise<void>]
      try {
        allocation = this.#guard(() => {
          const slot = this.#slots.get(k, Math.max(inRows, 1) * tile * 4, outBytes, nIn)
          if (sums) this.#slots.sum(slot, sumWords, sums.rows.length, this.#reduceLayout)
          const staging = staged ? this.#slots.upload(slot, Math.max(inRows, 1) * tile * 4) : undefined
          if (tape) return [slot, kernel.interpreterGroup(this.#slots.regs(registerBytes(tape.registers, tile))), staging] as const
          return [slot, scratchRows ? this.#slots.scratch(scratchRows * tile * 4) : undefined, staging] as const
        }, 'buffer allocation failed')
      } catch (e) {
        // A browser may throw (RangeError) where Dawn reports an out-of-memory error.
        throw new DeviceError(`buffer allocation failed for ${tile} bindings per tile: ${(e as Error).message}`, 'out-of-memory')
      }
      const [[slot, group1, staging], allocated] = allocation
      await allocated
      if (staging) {
        try {
          await staging.ready()
        } catch (e) {
          if (this.#destroyed) throw destroyedInFlight()
          throw this.#lost ?? new DeviceError(`mapping the upload buffer failed: ${(e as Error).message}`)
        }
      }
      const grid = tape ? dispatchGrid(Math.ceil(len / LANES_PER_THREAD), INTERPRETER_WORKGROUP, limits.maxComputeWorkgroupsPerDimension) : dispatchGrid(len, plan.workgroupSize, limits.maxComputeWorkgroupsPerDimension)
      const upload = (enc: GPUCommandEncoder) => {
        device.queue.writeBuffer(slot.params, 0, new Uint32Array([len, tile, grid.threadsPerRow, 0]))
        if (nIn) device.queue.writeBuffer(slot.steps, 0, steps)
        let view: Float32Array | undefined
        try {
          view = staging?.view()
        } catch (e) {
          // Destroying the engine (its buffers) or the device unmaps the buffer under a waiting run.
          if (this.#destroyed) throw destroyedInFlight()
          throw this.#lost ?? new DeviceError(`the upload buffer is no longer mapped (was the device destroyed?): ${(e as Error).message}`, 'lost')
        }
        const copies = rows.map((src, i) => this.#upload(enc, slot.inputs, i * tile, src, start, len, view))
        if (staging) {
          staging.unmap()
          copies.forEach((copied, i) => copied && enc.copyBufferToBuffer(staging.buffer, i * tile * 4, slot.inputs, i * tile * 4, len * 4))
        }
        if (sums) {
          device.queue.writeBuffer(slot.sum!.uniform, 0, new Uint32Array([len, tile, chunks, weights === undefined ? 0 : 1, nIn * tile, 0, 0, 0]))
          device.queue.writeBuffer(slot.sum!.which, 0, new Uint32Array(sums.rows))
        }
      }
      const dispatch = (enc: GPUCommandEncoder) => {
        if (!compute) return
        const pass = enc.beginComputePass()
        pass.setBindGroup(0, slot.bindGroup)
        if (tape) {
          // The interpreter: one dispatch per tape chunk; registers carry over between them.
          pass.setPipeline(pipelines[0]!)
          for (let c = 0; c < tape.chunks; c++) {
            pass.setBindGroup(1, group1!, [c * CHUNK_BYTES])
            pass.dispatchWorkgroups(grid.x, grid.y)
          }
        } else {
          // Fused: one kernel, or a segmented plan's kernels in order (the scratch carries over).
          if (group1) pass.setBindGroup(1, group1)
          for (const pipeline of pipelines) {
            pass.setPipeline(pipeline)
            pass.dispatchWorkgroups(grid.x, grid.y)
          }
        }
        if (sums) {
          pass.setPipeline(reducer!)
          pass.setBindGroup(0, slot.sum!.group)
          pass.dispatchWorkgroups(Math.ceil(len / CHUNK), sums.rows.length)
        }
        pass.end()
      }
      const deliver = (enc: GPUCommandEncoder) => {
        if (sink.kind === 'readback' && !sums) enc.copyBufferToBuffer(slot.results, 0, this.#slots.staging(slot, outBytes), 0, outBytes)
        else if (sink.kind === 'readback') {
          const staging = this.#slots.staging(slot, stagingBytes)
          readRows.forEach((r, i) => enc.copyBufferToBuffer(slot.results, r * tile * 4, staging, i * tile * 4, len * 4))
          enc.copyBufferToBuffer(slot.sum!.partials, 0, staging, readRows.length * tile * 4, sumWords * 4)
        } else for (let r = 0; r < rowCount; r++) enc.copyBufferToBuffer(slot.results, r * tile * 4, sink.buffer, (r * size + start) * 4, len * 4)
      }
      const submit = (...stages: ((enc: GPUCommandEncoder) => void)[]) => {
        const enc = device.createCommandEncoder()
        for (const stage of stages) stage(enc)
        device.queue.submit([enc.finish()])
      }
      const readback = () => (sink.kind === 'readback' ? this.#readback(slot, sink, readRows, tile, start, len, stagingBytes, chunks) : Promise.resolve())
      if (profile) {
        let mark = performance.now()
        const stage = async (f: () => void, what: string) => {
          const [, ok] = this.#guard(f, what)
          await ok
          await device.queue.onSubmittedWorkDone()
          const spent = performance.now() - mark
          mark = performance.now()
          return spent
        }
        try {
          timings.upload += await stage(() => submit(upload), 'upload failed')
        } finally {
          staging?.remap()
        }
        timings.dispatch += await stage(() => submit(dispatch), 'dispatch failed')
        const [, delivered] = this.#guard(() => submit(deliver), 'copying results failed')
        await delivered
        await readback()
        timings.readback += performance.now() - mark
      } else {
        let checks: Promise<void>
        try {
          checks = this.#guard(() => submit(upload, dispatch, deliver), 'GPU submission failed')[1]
        } finally {
          staging?.remap()
        }
        pending[k] = checks.then(readback)
        pending[k]!.catch(() => undefined)
      }
      timings.tiles++
    }
  }

  #kernelFor(graph: Graph, jacobian: boolean): Kernel {
    const cache = jacobian ? this.#kernels : this.#valueKernels
    const hit = cache.get(graph)
    if (hit && hit.version === graph.version) return hit.kernel
    const kernel = this.compile(graph, { jacobian })
    cache.set(graph, { version: graph.version, kernel })
    return kernel
  }

  #check(): void {
    if (this.#destroyed) throw new DeviceError('this GPU engine was destroyed; create a new one', 'destroyed')
    if (this.#lost) throw this.#lost
  }

  async #buildPipeline(code: string, group1: 'none' | 'interpreter' | 'scratch'): Promise<GPUComputePipeline> {
    const device = this.device
    const layout = group1 === 'interpreter' ? this.#interpreterPipelineLayout : group1 === 'scratch' ? this.#segmentedLayout : this.#pipelineLayout
    const [module, created] = this.#guard(() => device.createShaderModule({ code }), 'shader module creation failed')
    const info = await module.getCompilationInfo()
    const errors = info.messages.filter((m) => m.type === 'error')
    if (errors.length) {
      throw new ShaderError(errors.map((m) => ({ type: m.type, line: m.lineNum, column: m.linePos, message: m.message })), code)
    }
    await created
    let pipeline: GPUComputePipeline
    try {
      pipeline = await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' } })
    } catch (e) {
      throw this.#lost ?? new DeviceError(`compute pipeline creation failed: ${(e as Error).message}`)
    }
    // A software adapter's register file, made here with the interpreter unless one exists (see
    // SOFTWARE_REGISTER_FILE); if it cannot be made, runs make theirs as they need them.
    if (group1 === 'interpreter' && this.software && !this.#destroyed && !this.#lost) {
      const [made, reserved] = this.#guard(() => this.#slots.reserveRegs(this.#registerFile), 'making the register file failed')
      await reserved.catch(() => made && this.#slots.dropRegs(made))
    }
    // Warm-up: a software adapter compiles the pipeline at its first dispatch, not above. It uses
    // buffers of its own so that it never races a run for the slots, except the register file,
    // which it binds as it is (never grown or replaced here, so a run that holds it loses
    // nothing) so that its zeroing at first use happens now.
    const [, warmed] = this.#guard(() => {
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, this.#slots.warmup())
      if (group1 === 'scratch') pass.setBindGroup(1, this.#slots.warmupScratch())
      if (group1 === 'interpreter') {
        const buffer = (size: number, usage: number) => device.createBuffer({ label: 'wavegrad warm-up', size, usage })
        const regs = (this.software && !this.#destroyed ? this.#slots.currentRegs : undefined) ?? buffer(16, STORAGE)
        pass.setBindGroup(1, this.interpreterBindGroup(buffer(CHUNK_BYTES, UNIFORM), buffer(16, STORAGE), regs), [0])
      }
      pass.dispatchWorkgroups(1)
      pass.end()
      device.queue.submit([enc.finish()])
    }, 'warm-up dispatch failed')
    await warmed
    await device.queue.onSubmittedWorkDone()
    // Only this pipeline's own errors (the scopes above) fail its build: an uncaptured error from
    // other work on the device fails the run it belongs to, not every later compile of this graph.
    if (this.#lost) throw this.#lost
    return pipeline
  }

  /**
   * Runs `f` (synchronous GPU calls only: error scopes are a per-device stack, so nothing may
   * interleave) inside validation and out-of-memory scopes. Returns f's value and a promise that
   * rejects with DeviceError if either scope caught an error.
   */
  #guard<T>(f: () => T, what: string): [T, Promise<void>] {
    const device = this.device
    device.pushErrorScope('validation')
    device.pushErrorScope('out-of-memory')
    let value: T | undefined
    let error: unknown
    let failed = false
    try {
      value = f()
    } catch (e) {
      failed = true
      error = e
    }
    const oom = device.popErrorScope()
    const invalid = device.popErrorScope()
    const check = Promise.all([oom, invalid]).then(([o, v]) => {
      if (o) throw new DeviceError(`${what}: out of GPU memory: ${o.message}`, 'out-of-memory')
      if (v) throw new DeviceError(`${what}: ${v.message}`, 'validation')
    })
    check.catch(() => undefined)
    if (failed) throw error
    return [value as T, check]
  }

  /** Throws if the device was lost or reported an error nobody caught. */
  #throwIfBroken(): void {
    if (this.#lost) throw this.#lost
    if (this.#uncaptured.length) throw new DeviceError(`GPU error: ${this.#uncaptured.splice(0).join('; ')}`, 'validation')
  }

  /**
   * One row of a tile's inputs, bindings [start, start + len), at word `word` of `buffer`: a
   * broadcast number or a GPU buffer straight into `buffer`; an array into `view` (the slot's
   * mapped upload buffer, at the same word; returns true: the caller copies it over) or, without
   * one, by queue.writeBuffer.
   */
  #upload(enc: GPUCommandEncoder, buffer: GPUBuffer, word: number, src: BindingSource, start: number, len: number, view: Float32Array | undefined): boolean {
    const queue = this.device.queue
    const offset = word * 4
    if (typeof src === 'number') {
      // A broadcast number: one float, read by every thread (its step is 0).
      queue.writeBuffer(buffer, offset, new Float32Array([src]))
      return false
    }
    if (isGpuBinding(src)) {
      try {
        enc.copyBufferToBuffer(src.buffer, (src.offset ?? 0) + start * 4, buffer, offset, len * 4)
      } catch (e) {
        // WebGPU refuses an object that only looks like a GPUBuffer with a bare TypeError.
        throw new BindingError(`a { buffer } binding is not a GPUBuffer this device can copy from: ${(e as Error).message}`)
      }
      return false
    }
    if (view) {
      // Typed arrays convert to float32 in one set(); a plain array element by element.
      if (ArrayBuffer.isView(src)) view.set((src as unknown as Float64Array).subarray(start, start + len), word)
      else for (let j = 0; j < len; j++) view[word + j] = src[start + j]!
      return true
    }
    if (src instanceof Float32Array) {
      queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset + start * 4, len * 4)
    } else {
      const scratch = this.#scratch
      if (ArrayBuffer.isView(src)) scratch.set((src as unknown as Float64Array).subarray(start, start + len))
      else for (let j = 0; j < len; j++) scratch[j] = src[start + j]!
      queue.writeBuffer(buffer, offset, scratch.buffer, 0, len * 4)
    }
    return false
  }


  /**
   * Copies one tile's rows out of the staging buffer into the sink's arrays (row readRows[i] at
   * i × tile), and adds its partial sums (after the rows, `chunks` × LANES per summed row) to the
   * totals in float64, in index order.
   */
  async #readback(slot: Slot, sink: Extract<Sink, { kind: 'readback' }>, readRows: readonly number[], tile: number, start: number, len: number, bytes: number, chunks: number): Promise<void> {
    const staging = slot.staging!
    try {
      await staging.mapAsync(1, 0, bytes)
    } catch (e) {
      if (this.#destroyed) throw destroyedInFlight()
      throw this.#lost ?? new DeviceError(`reading results back failed: ${(e as Error).message}`)
    }
    const data = new Float32Array(staging.getMappedRange(0, bytes))
    if (sink.sums) {
      readRows.forEach((r, i) => sink.rows[r]!.set(data.subarray(i * tile, i * tile + len), start))
      const base = readRows.length * tile
      const used = Math.ceil(len / CHUNK) * LANES
      sink.sums.rows.forEach((_, j) => {
        let s = 0
        for (let c = 0; c < used; c++) s += data[base + j * chunks * LANES + c]!
        sink.sums!.totals[j]! += s
      })
    } else {
      for (let r = 0; r < sink.rows.length; r++) sink.rows[r]!.set(data.subarray(r * tile, r * tile + len), start)
    }
    staging.unmap()
  }

}
