/**
 * GPU engine. In: a Graph and bindings. Out: the same Results as evaluateCpu, in Float32Array,
 * computed by WGSL compute shaders, with the adapter named in `backend` — or the same rows left in a
 * GPUBuffer (runToBuffer) for a render pass, with no readback.
 *
 * Parts: the engine holds the device (context.ts: error scopes, loss, destruction), the buffer
 * slots (buffers.ts), the pipelines (pipelines.ts), the interpreter tapes (tapes.ts) and the tile
 * loop (run.ts); compile() makes a Kernel (kernel.ts) of a graph's program (program.ts), which runs
 * through the runner and never calls back into the engine.
 *
 * Errors are never silent: every object creation and submission sits in validation and
 * out-of-memory error scopes; uncaptured errors and device loss fail the call with DeviceError; a
 * WGSL error raises ShaderError with line:column and the source.
 */
import { longRun } from '../abort.js'
import { checkMaxHostBytes } from '../admission.js'
import type { Bindings } from '../bindings.js'
import { perGraph } from '../cache.js'
import { BindingError } from '../errors.js'
import { describe, type Graph } from '../graph.js'
import { COST_BUDGET, HARDWARE_COST_BUDGET, LOOP_ACCESSES, type PlanOptions } from '../plan.js'
import { programOf } from '../program.js'
import { createLayouts, SlotPool } from './buffers.js'
import { GpuContext } from './context.js'
import { acquireDevice, type AcquiredDevice, type DeviceOptions } from './device.js'
import { checkTier, Kernel, type GpuResidentResults, type GpuResults, type RunOptions, type Tier, type ToBufferOptions } from './kernel.js'
import { BuildQueue } from './builds.js'
import { Pipelines } from './pipelines.js'
import { PIPELINE_TILES, Runner, type Generation } from './run.js'
import { Tapes } from './tapes.js'

/** Default cap on bindings per tile: large enough to fill a GPU, small enough to pipeline. */
const DEFAULT_TILE = 1 << 20
/**
 * A software adapter's register file (the interpreter's registers, a segmented kernel's scratch):
 * made and zeroed with the interpreter, and interpreter tiles sized to fit it, so that a new
 * graph's first run does not pay for a new one (~0.3-0.5 s for 2 x 128 MiB on lavapipe).
 */
const SOFTWARE_REGISTER_FILE = 128 * 2 ** 20

export interface GpuEngineOptions extends DeviceOptions {
  /** Largest number of bindings per tile (default 2^20; device limits may lower it). */
  readonly maxTileSize?: number
  /**
   * A batch of at least 2^17 bindings is cut into at least this many tiles (default 4, none under
   * 2^16 bindings), so that one tile's readback overlaps the next ones' upload and compute. 1: as
   * few tiles as maxTileSize allows.
   */
  readonly pipelineTiles?: number
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
   * Which kernel runs a graph. 'auto' (default): a new graph's first results come from the tape
   * interpreter (built once per engine, at creation: no per-graph compile), and from its second run
   * on its fused kernel is built in the background (one build at a time, paused while a new graph
   * waits for its first result: gpu/builds.ts); runs switch to it once it is ready. 'fused': every
   * graph gets its own fused kernel, built at compile (its first run waits for it). 'interpreter':
   * the interpreter only. Every result says which tier computed it (`tier`); a run can ask for one
   * (RunOptions.tier). On the software adapter the interpreter is ~10-20x slower than a fused kernel
   * in steady state, and a fused compile of a 1,000-node graph takes 0.5-2 s (bench/RESULTS.md,
   * "Shapes").
   */
  readonly tier?: Tier
  /**
   * Largest compile cost of one fused kernel (plan.ts segmentCost: operations of its WGSL, helpers
   * included): a bigger graph is cut into segments, one kernel each. Infinity: always one kernel
   * (unless the driver cannot build it: then it is cut finer). Default: plan.ts COST_BUDGET on a
   * software adapter (kernels the compile model puts at about 1 s), HARDWARE_COST_BUDGET on a GPU.
   */
  readonly segmentCost?: number
  /**
   * A kernel moving more inputs, rows or crossing values than this does it in loops over private
   * arrays (plan.ts PlanOptions.loopAccesses). Default: LOOP_ACCESSES on a software adapter, whose
   * compile time grows with the square of a kernel's buffer accesses; Infinity on a GPU.
   */
  readonly loopAccesses?: number
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
  /**
   * After a device loss, on a device you supplied (`device`): return a new device to go on with
   * (or undefined to give up: calls then reject with DeviceError 'lost'). On a device the engine
   * acquired itself it acquires a new one from the same adapter options, unless `recover` is false.
   */
  readonly onDeviceLost?: (info: { readonly reason: string; readonly message: string }) => GPUDevice | undefined | Promise<GPUDevice | undefined>
  /**
   * Recover from device loss (default true): a new device, pipelines and tapes rebuilt as needed,
   * and a run the loss interrupted retried once when its inputs were host arrays. false: a lost
   * device is final (every later call rejects with DeviceError 'lost').
   */
  readonly recover?: boolean
  /**
   * Most host memory a run's result arrays may take (bytes); a bigger run is refused with a
   * BindingError naming its need and this limit, before anything is allocated. Default: the memory
   * Node reports available when the run starts (process.availableMemory()); no limit in a browser.
   */
  readonly maxHostBytes?: number
}

/** More losses than this within RECOVERY_WINDOW_MS and the engine stops recovering. */
export const MAX_RECOVERIES = 3
const RECOVERY_WINDOW_MS = 10_000

/** What a compiled kernel computes. */
export interface CompileOptions {
  /** false: values only (one row per output, no reverse sweep): forward mode's JVP graphs, predictions. */
  readonly jacobian?: boolean
  /**
   * Stops the kernel's fused pipeline build (between segments: a pipeline the driver is compiling
   * finishes first). Its runs then stay on the interpreter under tier 'auto'; on tier 'fused' they,
   * and `kernel.ready`, reject with the signal's reason.
   */
  readonly signal?: AbortSignal
}

/** evaluate(): a run's options, and whether to compute Jacobians (see CompileOptions). */
export interface EvaluateOptions extends RunOptions, CompileOptions {}

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
  /** The tier runs use unless they ask for another. */
  readonly tier: Tier
  readonly #runner: Runner
  readonly #options: GpuEngineOptions
  readonly #debug: boolean
  readonly #pipelineCacheSize: number
  readonly #tapeCacheSize: number
  readonly #registerFile: number
  #destroyed = false
  /** A recovery in progress (see #recover), and when the losses so far happened. */
  #recovering: Promise<boolean> | undefined
  /** The lost device's context whose recovery failed: final. */
  #gaveUp: GpuContext | undefined
  readonly #losses: number[] = []
  #recoveries = 0
  readonly #builds = new BuildQueue()
  readonly #plan: PlanOptions
  /** evaluate()'s kernels per graph: with Jacobians, and values only. */
  readonly #kernels = perGraph<Kernel>()

  constructor(acquired: AcquiredDevice, options: GpuEngineOptions = {}) {
    const maxTile = checkedOption('maxTileSize', options.maxTileSize, DEFAULT_TILE)
    const pipelineTiles = checkedOption('pipelineTiles', options.pipelineTiles, PIPELINE_TILES)
    const pipelineCacheSize = checkedOption('pipelineCacheSize', options.pipelineCacheSize, 128)
    const tapeCacheSize = checkedOption('tapeCacheSize', options.tapeCacheSize, 64)
    if (options.upload !== undefined && options.upload !== 'staging' && options.upload !== 'writeBuffer') {
      throw new BindingError(`upload must be 'staging' or 'writeBuffer', got ${describe(options.upload)}`)
    }
    if (options.segmentCost !== undefined && !(typeof options.segmentCost === 'number' && options.segmentCost >= 1)) {
      throw new BindingError(`segmentCost must be a number ≥ 1 (or Infinity), got ${describe(options.segmentCost)}`)
    }
    this.tier = checkTier(options.tier) ?? 'auto'
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    this.#options = options
    this.#debug = options.debug ?? env?.WAVEGRAD_DEBUG === '1'
    this.#pipelineCacheSize = pipelineCacheSize
    this.#tapeCacheSize = tapeCacheSize
    if (options.onDeviceLost !== undefined && typeof options.onDeviceLost !== 'function') throw new BindingError(`onDeviceLost must be a function, got ${describe(options.onDeviceLost)}`)
    const ctx = new GpuContext(acquired, this.#debug)
    if (options.loopAccesses !== undefined && !(typeof options.loopAccesses === 'number' && options.loopAccesses >= 0)) {
      throw new BindingError(`loopAccesses must be a number ≥ 0 (or Infinity), got ${describe(options.loopAccesses)}`)
    }
    this.#plan = {
      segmentCost: options.segmentCost ?? (ctx.software ? COST_BUDGET : HARDWARE_COST_BUDGET),
      loopAccesses: options.loopAccesses ?? (ctx.software ? LOOP_ACCESSES : Infinity),
      // The compile model was fitted on a software adapter; a GPU's cuts follow the budget alone.
      boundCompile: ctx.software,
    }
    const { maxStorageBufferBindingSize, maxBufferSize } = ctx.device.limits
    this.#registerFile = Math.min(maxStorageBufferBindingSize, maxBufferSize, ctx.software ? SOFTWARE_REGISTER_FILE : Infinity)
    const staged = options.upload === undefined ? !ctx.software : options.upload === 'staging'
    this.#runner = new Runner(this.#generation(ctx), this.#builds, { maxTile, staged, registerFile: this.#registerFile, pipelineTiles }, (lost) => this.#recover(lost))
    this.#runner.maxHostBytes = checkMaxHostBytes(options.maxHostBytes)
  }

  /**
   * What lives on one device: its context (which starts this engine's recovery when the device is
   * lost), buffer slots, pipelines and tapes. The interpreter is built now, in the background, where
   * it may run a graph's first evaluation.
   */
  #generation(ctx: GpuContext): Generation {
    const layouts = createLayouts(ctx.device)
    const slots = new SlotPool(ctx.device, layouts)
    const pipelines = new Pipelines(ctx, layouts, slots, this.#pipelineCacheSize, ctx.software ? this.#registerFile : 0)
    const tapes = new Tapes(ctx, pipelines, this.#tapeCacheSize)
    void ctx.device.lost.then(() => {
      if (!this.#destroyed && this.#runner.ctx === ctx) void this.#recover(ctx)
    })
    if (this.tier !== 'fused') void pipelines.interpreter().catch(() => undefined)
    return { ctx, slots, pipelines, tapes }
  }

  /**
   * After `lost`'s device was lost: a new device (the same adapter options, or the caller's
   * onDeviceLost), and a new generation every later run uses. Resolves true once it is in place
   * (at once if it already is), false where there is none: recovery is off, the engine was
   * destroyed, the caller's hook gave no device, acquiring one failed, or this is the fourth loss
   * within RECOVERY_WINDOW_MS. Kernels rebuild their pipelines and tapes when they next run.
   */
  #recover(lost: GpuContext): Promise<boolean> {
    if (this.#runner.ctx !== lost) return Promise.resolve(!this.#destroyed)
    // One attempt per lost device: a failed one is final (calls then reject with the loss).
    if (this.#gaveUp === lost) return Promise.resolve(false)
    if (!this.#recovering) {
      const attempt = this.#attemptRecovery(lost)
      this.#recovering = attempt
      void attempt.then((ok) => {
        if (!ok) this.#gaveUp = lost
        if (this.#recovering === attempt) this.#recovering = undefined
      })
    }
    return this.#recovering
  }

  /** The new device and generation for #recover; false where there is none (nothing thrown). */
  async #attemptRecovery(lost: GpuContext): Promise<boolean> {
    const options = this.#options
    if (this.#destroyed || options.recover === false) return false
    const now = performance.now()
    this.#losses.push(now)
    while (this.#losses.length && this.#losses[0]! < now - RECOVERY_WINDOW_MS) this.#losses.shift()
    if (this.#losses.length > MAX_RECOVERIES) return false
    let acquired: AcquiredDevice
    let info: GPUDeviceLostInfo
    try {
      info = await lost.device.lost
      if (lost.owned) {
        const { device: _, ...adapterOptions } = options
        acquired = await acquireDevice(adapterOptions)
      } else {
        const device = await options.onDeviceLost?.({ reason: info.reason, message: info.message })
        if (!device) return false
        acquired = await acquireDevice({ device })
      }
    } catch {
      return false
    }
    if (this.#destroyed) {
      if (acquired.owned) acquired.device.destroy()
      return false
    }
    this.#runner.tapes.destroy()
    this.#runner.slots.destroy()
    this.#runner.renew(this.#generation(new GpuContext(acquired, this.#debug)))
    this.#recoveries++
    if (this.#debug) console.error(`[wavegrad] the GPU device was lost (${info.reason}: ${info.message}); recovered on ${acquired.description}`)
    return true
  }

  /** GpuEngineOptions.maxHostBytes, for runs from now on (undefined: the memory available). */
  get maxHostBytes(): number | undefined {
    return this.#runner.maxHostBytes
  }

  set maxHostBytes(value: number | undefined) {
    this.#runner.maxHostBytes = checkMaxHostBytes(value)
  }

  /** The current device (a new one after a recovery from device loss). */
  get device(): GPUDevice {
    return this.#runner.ctx.device
  }

  /** The adapter, in words; every result's `backend` says it. */
  get description(): string {
    return this.#runner.ctx.description
  }

  /** A software adapter (lavapipe, SwiftShader, WARP): the upload and segment defaults follow it. */
  get software(): boolean {
    return this.#runner.ctx.software
  }

  /** Builds the interpreter (at creation unless the tier is 'fused'); resolves once it is ready. */
  async interpreter(): Promise<void> {
    this.#runner.ctx.check()
    await this.#runner.pipelines.interpreter()
  }

  /**
   * What the engine holds on the GPU now: buffers (count, bytes: buffer slots, the register file
   * and interpreter tapes), cached pipelines and tapes (bounded by the tile size, the device's
   * storage binding limit and the two cache sizes), and background builds waiting or running
   * (tier 'auto').
   */
  stats(): { buffers: number; bufferBytes: number; pipelines: number; tapes: number; builds: number; recoveries: number } {
    const { slots, tapes, pipelines } = this.#runner
    const held = slots.stats()
    const taped = tapes.stats()
    return { buffers: held.buffers + taped.buffers, bufferBytes: held.bufferBytes + taped.bufferBytes, pipelines: pipelines.size, tapes: taped.tapes, builds: this.#builds.pending, recoveries: this.#recoveries }
  }

  /** How this engine uploads inputs (the option, or the adapter's default). */
  get upload(): 'staging' | 'writeBuffer' {
    return this.#runner.options.staged ? 'staging' : 'writeBuffer'
  }

  /** The segment budget this engine plans fused kernels with (the option, or the adapter's default). */
  get segmentCost(): number {
    return this.#plan.segmentCost!
  }

  /** The device limits tiling reads. */
  get limits(): GPUSupportedLimits {
    return this.device.limits
  }

  /**
   * Makes the kernel for a graph's program and, for tier 'fused', starts building its pipelines
   * (await `.ready`, or just call `.run`). The graph's structure at this moment is what the kernel
   * computes.
   */
  compile<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, options: CompileOptions = {}): Kernel<I, O, P> {
    // (A lost device with a recovery to come is not a reason to refuse: the kernel runs on the next one.)
    if (this.#destroyed || !this.#runner.ctx.lost || this.#options.recover === false) this.#runner.ctx.check()
    const { signal } = longRun(options)
    return new Kernel(this.#runner, graph, programOf(graph, { jacobian: options.jacobian ?? true }), this.tier, this.#plan, signal)
  }

  /** compile (cached per graph and version) + run: values and Jacobians read back. */
  async evaluate<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, bindings: Bindings<I>, options: EvaluateOptions = {}): Promise<GpuResults<I, O, P>> {
    const { jacobian = true, ...run } = options
    return this.#kernelFor(graph, jacobian).run(bindings, run)
  }

  /** compile (cached) + runToBuffer: the rows stay on the GPU (see Kernel.runToBuffer). */
  async evaluateToBuffer<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, bindings: Bindings<I>, options: ToBufferOptions = {}): Promise<GpuResidentResults<I, O>> {
    return this.#kernelFor(graph, true).runToBuffer(bindings, options)
  }

  /** Resolves when every run queued so far has settled (background builds are not waited for). */
  async idle(): Promise<void> {
    await this.#runner.idle()
  }

  /** destroy(), for `using engine = await createGpuEngine()`: work in flight rejects (DeviceError 'destroyed'). */
  [Symbol.dispose](): void {
    this.destroy()
  }

  /** Waits for the runs in flight, then destroy(): `await using engine = await createGpuEngine()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.idle()
    this.destroy()
  }

  /** Frees the engine's buffers (and its device, unless the caller supplied it). */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    const { ctx, tapes, pipelines, slots } = this.#runner
    ctx.destroy()
    this.#builds.close()
    tapes.destroy()
    pipelines.clear()
    slots.destroy()
  }

  #kernelFor<I extends string, O extends string, P extends string>(graph: Graph<I, O, P>, jacobian: boolean): Kernel<I, O, P> {
    return this.#kernels(graph, jacobian ? 'jacobian' : 'values', () => this.compile(graph, { jacobian })) as unknown as Kernel<I, O, P>
  }
}
