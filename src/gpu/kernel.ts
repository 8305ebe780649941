/**
 * Kernel: one compiled graph on one engine. In: bindings (arrays, broadcast numbers, or GPU
 * buffers). Out: values and Jacobians read back into Float32Arrays (run), or left on the GPU in a
 * buffer of rows (runToBuffer) for a render pass or another kernel.
 *
 * Ownership of runToBuffer's buffer: without `into` the caller owns the new buffer and destroys it;
 * with `into` the results are written into the caller's own buffer. Either way wavegrad never
 * touches it again after the call resolves, and queue order guarantees later GPU work sees it.
 */
import { abortable, longRun, type LongRunOptions } from '../abort.js'
import { admit, allocate, hostLimit } from '../admission.js'
import { checkBindings, isGpuBinding, type Bindings, type CheckedBindings } from '../bindings.js'
import { kernelSources, type KernelSource } from '../codegen/wgsl.js'
import { BindingError, GraphError } from '../errors.js'
import { describe, type DefaultParams, type Graph } from '../graph.js'
import { COST_BUDGET, planKernels, predictPlanCompileMs, rangeCompileMs, rowIndex, type Plan, type PlanOptions, type Row } from '../plan.js'
import type { Program } from '../program.js'
import { assembleResults, checkWeights, paramRows, type Results, type SumOptions } from '../results.js'
import { COPY_DST, COPY_SRC, STORAGE } from './buffers.js'
import { DeviceError, ShaderError } from './errors.js'
import { destroyedInFlight } from './context.js'
import type { Runner, Sink, Timings } from './run.js'

export type { Timings } from './run.js'

/**
 * Tier 'auto' builds a graph's fused kernel in the background only if the compile model puts all
 * its kernels at no more than this many ms (at the second run plan.ts rangeCompileMs, a lower
 * bound; when the build's turn comes predictPlanCompileMs of the full plan): beyond, the build
 * would hold a core for minutes, and the graph stays on the interpreter.
 */
export const AUTO_BUILD_MS = 60_000

/** Which kernel computes a run: see GpuEngineOptions.tier. */
export type Tier = 'auto' | 'fused' | 'interpreter'
export const TIERS: readonly Tier[] = ['auto', 'fused', 'interpreter']

/** The tier asked for, checked: undefined, or one of TIERS (a BindingError naming them otherwise). */
export function checkTier(tier: unknown): Tier | undefined {
  if (tier === undefined || TIERS.includes(tier as Tier)) return tier as Tier | undefined
  throw new BindingError(`tier must be one of ${TIERS.map((t) => `'${t}'`).join(', ')}, got ${describe(tier)}`)
}

export interface RunOptions extends SumOptions, LongRunOptions {
  /** Override the engine's tier for this run. */
  readonly tier?: Tier
  /**
   * Read back only batch sums (a training loop's step): `gradients` for the parameters and
   * `totals[output]` = Σ_b w_b · value_b; `values` and `jacobian` come back empty, so nothing of
   * size B leaves the GPU.
   */
  readonly sumsOnly?: boolean
  /** Measure upload / dispatch / readback separately (serializes them; for benchmarks). */
  readonly profile?: boolean
  /**
   * Write into these arrays instead of allocating new ones (a render or optimisation loop then
   * allocates nothing per run): the shape of a result, every array at least B long. The returned
   * result holds exactly these arrays (views of length B when they are longer).
   */
  readonly into?: { readonly values: Readonly<Record<string, Float32Array>>; readonly jacobian: Readonly<Record<string, Readonly<Record<string, Float32Array>>>> }
  /**
   * Benchmarks only: do every upload, copy and readback of the run but skip the compute dispatch,
   * to measure the transfer floor of the same bytes. The numbers returned are meaningless.
   */
  readonly transferOnly?: boolean
}

export interface ToBufferOptions extends LongRunOptions {
  /** Override the engine's tier for this run. */
  readonly tier?: Tier
  /** Write into this buffer (≥ rows × size × 4 bytes, usage STORAGE | COPY_DST) instead of a new one. */
  readonly into?: GPUBuffer
}

export interface GpuResults<I extends string = string, O extends string = string, P extends string = DefaultParams<I>> extends Results<Float32Array, I, O, P> {
  /** The kernel that computed these numbers. */
  readonly tier: 'fused' | 'interpreter'
  /** With `sumsOnly`: each output's value summed over the batch (weighted), float64 of f32 partial sums. */
  readonly totals?: Record<O, number>
  readonly timings?: Timings
}

/** Results left on the GPU: `rows.length` rows of `size` f32 each, row r at byte r × size × 4. */
export interface GpuResidentResults<I extends string = string, O extends string = string> {
  /** STORAGE | COPY_SRC | COPY_DST; see the ownership rule above. */
  readonly buffer: GPUBuffer
  readonly size: number
  readonly rows: readonly Row[]
  readonly backend: string
  readonly tier: 'fused' | 'interpreter'
  /** Byte offset of `output`'s value row, or of its ∂output/∂input row. */
  offset(output: O, input?: I): number
}

/** A fused kernel cut finer after a build failure goes down to segments of this cost before giving up. */
const MIN_RETRY_COST = 256

/** A fused build's result: the plan it built (cut finer if the driver asked), its WGSL and pipelines. */
interface Built {
  readonly plan: Plan
  readonly sources: readonly KernelSource[]
  readonly pipelines: GPUComputePipeline[]
}

/** A compiled graph: reusable on any bindings of the graph's inputs. */
export class Kernel<I extends string = string, O extends string = string, P extends string = DefaultParams<I>> {
  #fused: Promise<Built> | undefined
  #state: 'pending' | 'ready' | 'failed' = 'pending'
  /** Runs started (the first is a new graph's first result: background builds wait for it). */
  #runs = 0
  /** Releases a background build's waits between steps (someone awaits the fused tier now). */
  #hurry: (() => void) | undefined
  readonly #hurried = new Promise<void>((resolve) => (this.#hurry = resolve))
  #autoFuses: boolean | undefined
  /** Someone waits for the fused build (`ready`, a run on the fused tier). */
  #urgent = false
  #plan: Plan
  #sources: readonly KernelSource[] | undefined
  /** The engine's tile loop, pipelines and tapes: a kernel runs through it, never through the engine. */
  readonly #runner: Runner
  readonly #planOptions: PlanOptions
  readonly #signal: AbortSignal | undefined
  /** The runner generation (device) the fused pipelines belong to. */
  #generation: number

  /**
   * The fused tier's WGSL is emitted at most once and only when first needed: a kernel that only
   * ever runs on the interpreter never pays for it. Its build runs now for tier 'fused' (whose WGSL
   * is emitted now, so a graph it cannot be emitted for fails at compile); for 'auto' in the
   * background from the graph's second run on (a graph evaluated once never pays for a compile),
   * through the engine's build queue (builds.ts), unless the compile model puts it beyond
   * AUTO_BUILD_MS (such a graph stays on the interpreter), or at once when `ready` or a run asks
   * for the fused tier; for 'interpreter' only if a run asks for the fused tier.
   */
  constructor(
    runner: Runner,
    readonly graph: Graph<I, O, P>,
    /** What the kernel computes: the graph's forward nodes and, for Jacobians, its reverse sweeps. */
    readonly program: Program,
    /** The tier runs take unless they ask for another (the engine's). */
    readonly tier: Tier,
    /** How the fused tier is planned (the engine's segment budget and loop threshold). */
    planOptions: PlanOptions,
    /** compile()'s signal: stops the fused build. */
    signal?: AbortSignal,
  ) {
    this.#runner = runner
    this.#planOptions = planOptions
    this.#signal = signal
    this.#generation = runner.generation
    this.#plan = planKernels(program, planOptions)
    if (runner.ctx.debug) {
      const { scratch, program: _, ...summary } = this.#plan
      console.error(`[wavegrad] plan ${JSON.stringify({ ...summary, scratchRows: scratch?.rows ?? 0 })}`)
    }
    if (tier === 'fused') {
      void this.sources
      void this.#build(false).catch(() => undefined)
    }
  }

  /**
   * The kernel plan: rows, and the fused tier's segments. If the driver fails to build a segment
   * (too big for it), the build cuts the program finer and this becomes the plan it built.
   */
  get plan(): Plan {
    return this.#plan
  }

  /** The fused tier's kernels in dispatch order (one unless the plan is segmented). */
  get sources(): readonly KernelSource[] {
    if (!this.#sources) {
      this.#sources = kernelSources(this.#plan)
      if (this.#runner.ctx.debug) for (const k of this.#sources) console.error(`[wavegrad] WGSL, segment ${k.segment}\n${k.wgsl}`)
    }
    return this.#sources
  }

  /** All of the fused tier's WGSL (the kernels in dispatch order, one after another). */
  get wgsl(): string {
    return this.sources.map((k) => k.wgsl).join('\n')
  }

  /**
   * The fused pipelines in dispatch order: built now if they are not (a background build of tier
   * 'auto' goes on without waiting for quiet).
   */
  get pipelines(): Promise<GPUComputePipeline[]> {
    return this.#build(false).then((built) => built.pipelines)
  }

  /** Resolves when the fused pipelines are built and warmed up; rejects with ShaderError/DeviceError. */
  /** Whether the fused kernel is built (tier 'auto' runs on it from now on). */
  get fusedReady(): boolean {
    return this.#state === 'ready'
  }

  get ready(): Promise<void> {
    return this.pipelines.then(() => undefined)
  }

  /** The fused build, started now (or in the build queue, for `background`) unless it was started. */
  #build(background: boolean): Promise<Built> {
    this.#follow()
    const { builds } = this.#runner
    if (!this.#fused) {
      // (An emission error rejects, as a failed build does.)
      const start = async () => {
        // The full plan (cuts, scratch, each kernel's predicted time) is worked out now: a build
        // it puts beyond AUTO_BUILD_MS is left undone, unless someone waits for it.
        if (background && !this.#urgent && predictPlanCompileMs(this.#plan) > AUTO_BUILD_MS) {
          this.#autoFuses = false
          throw new DeviceError(`the fused build's predicted time exceeds AUTO_BUILD_MS (${AUTO_BUILD_MS} ms): this graph stays on the interpreter`, 'internal')
        }
        return this.#buildFrom(this.#plan, this.sources, background ? () => Promise.race([builds.quiet(), this.#hurried]) : undefined)
      }
      const building = background
        ? new Promise<Built>((resolve, reject) => {
            const run = () => {
              const built = start()
              built.then(resolve, reject)
              return built.then(() => undefined)
            }
            // Dropped before its turn (kernel or engine destroyed): a later build starts afresh.
            const cancel = () => reject(this.#runner.ctx.destroyed ? destroyedInFlight() : new DeviceError('the kernel was destroyed before its background build started', 'destroyed'))
            builds.add(this, run, cancel)
          })
        : start()
      this.#fused = building
      building.then(
        (built) => {
          // (A build of a device lost since, superseded by #follow, leaves the kernel alone.)
          if (this.#fused !== building) return
          this.#plan = built.plan
          this.#sources = built.sources
          this.#state = 'ready'
        },
        (e: unknown) => {
          // A WGSL error is final; anything else (a transient device error) may be retried.
          if (e instanceof ShaderError) this.#state = 'failed'
          else if (this.#fused === building) this.#fused = undefined
        },
      )
    } else if (!background && this.#state === 'pending') {
      // Wanted now: a queued build starts at once, a running one stops waiting for quiet.
      this.#urgent = true
      this.#hurry?.()
      void builds.take(this)?.()
    }
    return this.#fused
  }

  /**
   * After a recovery from device loss: the fused pipelines were the old device's, so the kernel
   * builds them again when next asked (a WGSL error stays final; the plan and WGSL stay).
   */
  #follow(): void {
    const generation = this.#runner.generation
    if (generation === this.#generation) return
    this.#generation = generation
    if (this.#state === 'failed') return
    this.#fused = undefined
    this.#state = 'pending'
  }

  /**
   * The pipelines of `sources`; a driver that cannot build a kernel this big gets the program cut
   * finer. With `gate`, one pipeline at a time, each after the gate opens (a background build).
   */
  async #buildFrom(plan: Plan, sources: readonly KernelSource[], gate?: () => Promise<void>): Promise<Built> {
    const { ctx, pipelines } = this.#runner
    const group1 = () => (plan.scratch ? 'scratch' : 'none')
    const signal = this.#signal
    for (;;) {
      try {
        if (signal?.aborted) this.#autoFuses = false
        signal?.throwIfAborted()
        if (!gate) return { plan, sources, pipelines: await abortable(Promise.all(sources.map((k) => pipelines.fused(k.wgsl, group1()))), signal) }
        const built: GPUComputePipeline[] = []
        for (const k of sources) {
          await gate()
          ctx.check()
          signal?.throwIfAborted()
          built.push(await pipelines.fused(k.wgsl, group1()))
        }
        return { plan, sources, pipelines: built }
      } catch (e) {
        // NVIDIA's driver runs out of local memory between ~2,000 and ~4,000 nodes: VK_ERROR_UNKNOWN.
        const largest = Math.max(...plan.kernels.map((k) => k.cost))
        if (!(e instanceof DeviceError) || e.reason !== 'internal' || ctx.lost || ctx.destroyed || largest <= MIN_RETRY_COST) throw e
        const budget = Math.floor(largest / 4)
        if (ctx.debug) console.error(`[wavegrad] a fused kernel of cost ${largest} failed to build (${e.message.split('\n')[0]}); cutting by ${budget}`)
        plan = planKernels(this.program, { ...this.#planOptions, segmentCost: budget })
        sources = kernelSources(plan)
      }
    }
  }

  /**
   * The tier a run takes: auto = fused once built, the interpreter until then, and for good if
   * the fused build failed (a ShaderError: the interpreter runs every op of the table).
   */
  #tier(asked: Tier | undefined): 'fused' | 'interpreter' {
    this.#follow()
    const tier = checkTier(asked) ?? this.tier
    if (tier !== 'auto') return tier
    return this.#state === 'ready' ? 'fused' : 'interpreter'
  }

  /**
   * Runs `job` on `tier`. A kernel's first run is a new graph's first result (background builds
   * wait for it); under 'auto', its second run queues the fused build.
   */
  async #execute(asked: Tier | undefined, tier: 'fused' | 'interpreter', job: Omit<Parameters<Runner['run']>[0], 'owner' | 'program' | 'plan' | 'fused'>): Promise<Timings | undefined> {
    const runner = this.#runner
    const first = this.#runs++ === 0
    if ((checkTier(asked) ?? this.tier) === 'auto' && !first && !this.#fused && this.#fuses()) void this.#build(true).catch(() => undefined)
    const run = () => runner.run({ ...job, owner: this, program: this.program, plan: this.#plan, ...(tier === 'fused' ? { fused: this.#build(false) } : {}) })
    // (A first run on the fused tier waits for its own build: it must not hold builds back.)
    return first && tier === 'interpreter' ? runner.builds.firstRun(run) : run()
  }

  /**
   * Whether 'auto' builds this graph's fused kernel: the compile model's time within AUTO_BUILD_MS
   * (its lower bound, from the cut ranges alone: the full plan is worked out by the build).
   */
  #fuses(): boolean {
    return (this.#autoFuses ??= rangeCompileMs(this.program, this.#planOptions.segmentCost ?? COST_BUDGET) <= AUTO_BUILD_MS)
  }

  /** Frees this kernel's own GPU memory (its interpreter tape; a later interpreter run uploads it again) and drops a queued background build. */
  destroy(): void {
    this.#runner.builds.drop(this)
    this.#runner.tapes.drop(this)
  }

  /**
   * Values and Jacobians for every binding, read back as Float32Array.
   *
   * @example
   * const k = engine.compile(parse('f = a*x^2')); const r = await k.run({ x: xs, a: 0.5 })
   */
  async run(bindings: Bindings<I>, options: RunOptions = {}): Promise<GpuResults<I, O, P>> {
    const started = performance.now()
    const long = longRun(options)
    const checked = this.#check(bindings)
    const { program, graph } = this
    const weights = checkWeights(graph, options.weights, checked.size, options.sumsOnly)
    // A parameter's rows are summed over the batch on the GPU instead of being read back; with
    // sumsOnly, the values too, and nothing else comes back.
    const sumsOnly = options.sumsOnly ?? false
    const summed = [...paramRows(graph, program), ...(sumsOnly ? program.rows.flatMap((row, r) => (row.kind === 'value' ? [r] : [])) : [])].sort((a, b) => a - b)
    const skipped = (r: number) => summed.includes(r) || (sumsOnly && program.rows[r]!.kind === 'jacobian')
    // Host memory is admitted before any is taken (the caller's `into` arrays cost nothing new).
    const fresh = options.into ? 0 : program.rows.filter((_, r) => !skipped(r)).length
    const how = `${fresh} result rows × 4 bytes × ${checked.size} bindings`
    admit(fresh * checked.size * 4, how, hostLimit(this.#runner.maxHostBytes))
    const rows = allocate(fresh * checked.size * 4, how, () => program.rows.map((row, r) => (skipped(r) ? undefined : options.into ? intoRow(options.into, row, checked.size) : new Float32Array(checked.size))))
    const sums = summed.length ? { rows: summed, totals: new Float64Array(summed.length) } : undefined
    const sink: Sink = { kind: 'readback', rows, ...(sums ? { sums } : {}) }
    const prepared = performance.now()
    // (Every row and sum is written again by a retry after a device loss.)
    const [timings, tier] = await this.#surviving(checked, true, async () => {
      const tier = this.#tier(options.tier)
      return [await this.#execute(options.tier, tier, { bindings: checked, sink, profile: options.profile ?? false, transferOnly: options.transferOnly ?? false, weights: weights as Float32Array | number[] | undefined, ...long }), tier] as const
    })
    const totals = new Map(summed.map((r, i) => [r, sums!.totals[i]!]))
    const result = { ...assembleResults(graph, program, rows, totals, checked.size, this.#runner.ctx.description), tier } as GpuResults<I, O, P>
    if (!timings) return result
    return { ...result, timings: { ...timings, prepare: prepared - started, total: performance.now() - started } }
  }

  /**
   * The same rows as run(), left in a GPUBuffer (no readback). Resolves once the work is submitted.
   *
   * @example
   * const res = await kernel.runToBuffer({ x: { buffer: xs, length: n }, a: 1.5 })
   * pass.setBindGroup(...res.buffer, res.offset('f', 'x')...) ; res.buffer.destroy() when done
   */
  async runToBuffer(bindings: Bindings<I>, options: ToBufferOptions = {}): Promise<GpuResidentResults<I, O>> {
    const long = longRun(options)
    const checked = this.#check(bindings)
    const { program } = this
    const bytes = Math.max(program.rows.length * checked.size * 4, 4)
    const limit = this.#runner.ctx.device.limits.maxBufferSize
    if (bytes > limit) throw new BindingError(`${checked.size} bindings × ${program.rows.length} rows need ${bytes} bytes, more than this device's maxBufferSize (${limit}); use run() or fewer bindings`)
    const into = options.into
    if (into && (into.size < bytes || (into.usage & (STORAGE | COPY_DST)) !== (STORAGE | COPY_DST))) {
      throw new BindingError(`'into' must be a STORAGE | COPY_DST buffer of at least ${bytes} bytes (got ${into.size} bytes, usage ${into.usage})`)
    }
    // A retry after a device loss writes a new buffer of the new device (a caller's `into` died with the old one).
    const [buffer, tier] = await this.#surviving(checked, !into, async () => {
      const tier = this.#tier(options.tier)
      const buffer = into ?? (await this.#resultBuffer(bytes))
      try {
        await this.#execute(options.tier, tier, { bindings: checked, sink: { kind: 'buffer', buffer }, ...long })
      } catch (e) {
        if (!into) buffer.destroy()
        throw e
      }
      return [buffer, tier] as const
    })
    const { inputs, outputs } = program
    const size = checked.size
    return {
      buffer,
      size,
      rows: program.rows,
      backend: this.#runner.ctx.description,
      tier,
      offset(output: string, input?: string): number {
        const o = outputs.indexOf(output)
        const i = input === undefined ? undefined : inputs.indexOf(input)
        if (o < 0 || i === -1) throw new BindingError(`no row for output '${output}'${input === undefined ? '' : ` and input '${input}'`}`)
        return rowIndex(program, o, i) * size * 4
      },
    }
  }

  /**
   * `attempt`, and once more if the device was lost under it and the engine recovered on a new one:
   * only where the run's inputs are host arrays or numbers and its results go to memory the retry
   * can write (`retryable`); otherwise a DeviceError (reason 'lost') saying what died with the device.
   */
  async #surviving<T>(checked: CheckedBindings, retryable: boolean, attempt: () => Promise<T>): Promise<T> {
    const runner = this.#runner
    const ctx = runner.ctx
    try {
      return await attempt()
    } catch (e) {
      if (!(e instanceof DeviceError) || e.reason === 'destroyed' || e.reason === 'out-of-memory') throw e
      const gpuInputs = checked.sources.some(isGpuBinding)
      if (!(await ctx.lostSoon()) || !(await runner.revive(ctx))) {
        // GPU buffers made on a device lost before this run started fail as validation errors.
        if ((gpuInputs || !retryable) && runner.generation > 0 && e.reason === 'validation') {
          throw new DeviceError(`${e.message}\n(this engine's device was lost and replaced ${runner.generation === 1 ? 'once' : `${runner.generation} times`}: GPU buffers made before that belong to the lost device; make them again on engine.device)`, 'lost')
        }
        throw e
      }
      if (gpuInputs) {
        throw new DeviceError("the GPU device was lost during this run, and its GPU-buffer inputs were on that device: upload them again to the engine's new device (engine.device) and run again", 'lost')
      }
      if (!retryable) throw new DeviceError("the GPU device was lost during this run, and its 'into' buffer was on that device: give a buffer of the engine's new device (engine.device)", 'lost')
      return attempt()
    }
  }

  /** A new buffer for runToBuffer's rows, made in wavegrad's error scopes (a failure is a DeviceError here, never a caller's uncaptured error). */
  async #resultBuffer(bytes: number): Promise<GPUBuffer> {
    const { ctx } = this.#runner
    const [buffer, made] = ctx.guard(() => ctx.device.createBuffer({ label: 'wavegrad results (caller-owned)', size: bytes, usage: STORAGE | COPY_SRC | COPY_DST }), `allocating a result buffer of ${bytes} bytes failed`)
    try {
      await made
    } catch (e) {
      buffer.destroy()
      throw e
    }
    return buffer
  }

  #check(bindings: Bindings) {
    if (this.graph.inputs.join(',') !== this.program.inputs.join(',')) {
      throw new GraphError(`the graph's inputs changed after compile (now ${this.graph.inputs.join(', ')}); compile it again`)
    }
    return checkBindings(this.graph, bindings, true)
  }
}

/** The caller's array for one row of `into`, checked, as a view of exactly `size` elements. */
function intoRow(into: NonNullable<RunOptions['into']>, row: Row, size: number): Float32Array {
  const a = row.kind === 'value' ? into.values?.[row.output] : into.jacobian?.[row.output]?.[row.input!]
  const what = row.kind === 'value' ? `into.values.${row.output}` : `into.jacobian.${row.output}.${row.input}`
  if (!(a instanceof Float32Array)) throw new BindingError(`${what} must be a Float32Array (of at least ${size} elements)`)
  if (a.length < size) throw new BindingError(`${what} has ${a.length} elements; the batch needs ${size}`)
  return a.length === size ? a : a.subarray(0, size)
}
