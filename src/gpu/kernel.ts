/**
 * Kernel: one compiled graph on one engine. In: bindings (arrays, broadcast numbers, or GPU
 * buffers). Out: values and Jacobians read back into Float32Arrays (run), or left on the GPU in a
 * buffer of rows (runToBuffer) for a render pass or another kernel.
 *
 * Ownership of runToBuffer's buffer: without `into` the caller owns the new buffer and destroys it;
 * with `into` the results are written into the caller's own buffer. Either way wavegrad never
 * touches it again after the call resolves, and queue order guarantees later GPU work sees it.
 */
import { checkBindings, type Bindings } from '../bindings.js'
import { buildTape, type Tape } from '../codegen/interpreter.js'
import type { KernelSource } from '../codegen/wgsl.js'
import { BindingError, GraphError } from '../errors.js'
import { describe, type Graph } from '../graph.js'
import { rowIndex, type Plan, type Row } from '../plan.js'
import type { Results } from '../reference.js'
import type { Levels } from '../levelize.js'
import { COPY_DST, COPY_SRC, STORAGE, UNIFORM } from './buffers.js'
import type { GpuEngine } from './engine.js'
import { checkWeights, type SumOptions } from '../params.js'
import { ShaderError } from './errors.js'

/**
 * Largest graph (live nodes) tier 'auto' compiles a fused kernel for. A software adapter's compile
 * time grows super-linearly (~2.4 s cold at 1,000 nodes, 100+ s at 10,000), while the interpreter
 * needs no compile at all: beyond this, 'auto' keeps the graph on the interpreter.
 */
export const AUTO_FUSE_LIMIT = 4096

/** Which kernel computes a run: see GpuEngineOptions.tier. */
export type Tier = 'auto' | 'fused' | 'interpreter'
export const TIERS: readonly Tier[] = ['auto', 'fused', 'interpreter']

/** The tier asked for, checked: undefined, or one of TIERS (a BindingError naming them otherwise). */
export function checkTier(tier: unknown): Tier | undefined {
  if (tier === undefined || TIERS.includes(tier as Tier)) return tier as Tier | undefined
  throw new BindingError(`tier must be one of ${TIERS.map((t) => `'${t}'`).join(', ')}, got ${describe(tier)}`)
}

export interface RunOptions extends SumOptions {
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

export interface ToBufferOptions {
  /** Override the engine's tier for this run. */
  readonly tier?: Tier
  /** Write into this buffer (≥ rows × size × 4 bytes, usage STORAGE | COPY_DST) instead of a new one. */
  readonly into?: GPUBuffer
}

/** Milliseconds spent per stage of one run (with `profile: true`). */
export interface Timings {
  upload: number
  dispatch: number
  readback: number
  total: number
  tiles: number
}

export interface GpuResults extends Results<Float32Array> {
  /** The kernel that computed these numbers. */
  readonly tier: 'fused' | 'interpreter'
  /** With `sumsOnly`: each output's value summed over the batch (weighted), float64 of f32 partial sums. */
  readonly totals?: Record<string, number>
  readonly timings?: Timings
}

/** Results left on the GPU: `rows.length` rows of `size` f32 each, row r at byte r × size × 4. */
export interface GpuResidentResults {
  /** STORAGE | COPY_SRC | COPY_DST; see the ownership rule above. */
  readonly buffer: GPUBuffer
  readonly size: number
  readonly rows: readonly Row[]
  readonly backend: string
  readonly tier: 'fused' | 'interpreter'
  /** Byte offset of `output`'s value row, or of its ∂output/∂input row. */
  offset(output: string, input?: string): number
}

/** What a kernel's fused build made: the pipelines of `sources`, in dispatch order, and their plan. */
export interface FusedBuild {
  readonly plan: Plan
  readonly sources: readonly KernelSource[]
  readonly pipelines: GPUComputePipeline[]
}

/** A compiled graph: reusable on any bindings of the graph's inputs. */
export class Kernel {
  #pipeline: Promise<GPUComputePipeline[]> | undefined
  #fused: 'pending' | 'ready' | 'failed' = 'pending'
  #tape: { tape: GPUBuffer; consts: GPUBuffer; registers: number; chunks: number } | undefined
  #group: { regs: GPUBuffer; group: GPUBindGroup } | undefined
  readonly #build: (sources: readonly KernelSource[]) => Promise<FusedBuild>
  #plan: Plan
  #sources: readonly KernelSource[] | undefined
  readonly #emit: () => readonly KernelSource[]

  /**
   * `emit` gives the plan's WGSL (kernelSources), at most once and only when first needed: a kernel
   * that only ever runs on the interpreter never pays for it (seconds at 10^5 nodes). `build` makes
   * the fused pipelines from those sources (its result's sources differ where the driver could not
   * build kernels that big and the plan was cut finer). The build runs now for tier 'fused' (whose
   * WGSL is emitted now, so a graph it cannot be emitted for fails at compile); for 'auto' after
   * the first run (or at `ready`) unless the graph is larger than AUTO_FUSE_LIMIT (such a graph
   * stays on the interpreter); for 'interpreter' only if a run asks for the fused tier.
   */
  constructor(
    readonly engine: GpuEngine,
    readonly graph: Graph,
    /** The graph's structure when compiled (what the tape is built from, too). */
    readonly levels: Levels,
    plan: Plan,
    emit: () => readonly KernelSource[],
    build: (sources: readonly KernelSource[]) => Promise<FusedBuild>,
  ) {
    this.#plan = plan
    this.#emit = emit
    this.#build = build
    // 'auto' starts the fused build once the graph's first (interpreter) run is done: on a software
    // adapter both share the same cores, and the first result matters most (see #execute).
    if (engine.tier === 'fused') {
      void this.sources
      void this.pipelines.catch(() => undefined)
    }
  }

  /**
   * The kernel plan: rows, and the fused tier's segments. If the driver fails to build a segment
   * (too big for it), the build cuts the graph finer and this becomes the plan it built.
   */
  get plan(): Plan {
    return this.#plan
  }

  /** The fused tier's kernels in dispatch order (one unless the plan is segmented). */
  get sources(): readonly KernelSource[] {
    return (this.#sources ??= this.#emit())
  }

  /** All of the fused tier's WGSL (the kernels in dispatch order, one after another). */
  get wgsl(): string {
    return this.sources.map((k) => k.wgsl).join('\n')
  }

  /** The fused pipelines in dispatch order (built on first use where the engine's tier is 'interpreter'). */
  get pipelines(): Promise<GPUComputePipeline[]> {
    if (!this.#pipeline) {
      // (An emission error rejects, as a failed build does.)
      const building = (async () => this.#build(this.sources))().then((built) => {
        this.#plan = built.plan
        this.#sources = built.sources
        return built.pipelines
      })
      this.#pipeline = building
      building.then(
        () => (this.#fused = 'ready'),
        (e: unknown) => {
          // A WGSL error is final; anything else (a transient device error) may be retried.
          if (e instanceof ShaderError) this.#fused = 'failed'
          else if (this.#pipeline === building) this.#pipeline = undefined
        },
      )
    }
    return this.#pipeline
  }

  /** Resolves when the fused pipelines are built and warmed up; rejects with ShaderError/DeviceError. */
  get ready(): Promise<void> {
    return this.pipelines.then(() => undefined)
  }

  /**
   * The tier a run takes: auto = fused once built, the interpreter until then, and for good if
   * the fused build failed (a ShaderError: the interpreter runs every op of the table).
   */
  #tier(asked: Tier | undefined): 'fused' | 'interpreter' {
    const tier = checkTier(asked) ?? this.engine.tier
    if (tier !== 'auto') return tier
    return this.#autoFuses() && this.#fused === 'ready' ? 'fused' : 'interpreter'
  }

  /** Runs `execute` on `tier`; for 'auto', then starts the fused build if it has not started. */
  async #execute<T>(asked: Tier | undefined, execute: () => Promise<T>): Promise<T> {
    try {
      return await execute()
    } finally {
      if ((checkTier(asked) ?? this.engine.tier) === 'auto' && this.#autoFuses() && !this.#pipeline) void this.pipelines.catch(() => undefined)
    }
  }

  #autoFuses(): boolean {
    return this.plan.liveCount <= AUTO_FUSE_LIMIT
  }

  /** The tape on the GPU now, if any (for the engine's accounting). */
  heldTape(): { tape: GPUBuffer; consts: GPUBuffer } | undefined {
    return this.#tape
  }

  /**
   * The tape of this graph on the GPU (uploaded on the first interpreter run, and again after the
   * engine's tape cache freed it).
   */
  tapeBuffers(): { tape: GPUBuffer; consts: GPUBuffer; registers: number; chunks: number } {
    if (this.#tape) {
      this.engine.noteTape(this)
      return this.#tape
    }
    const t: Tape = buildTape(this.levels, this.plan)
    const device = this.engine.device
    const upload = (data: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>, label: string, usage: number) => {
      const buffer = device.createBuffer({ label, size: Math.max(data.byteLength, 32), usage: usage | COPY_DST })
      device.queue.writeBuffer(buffer, 0, data)
      return buffer
    }
    this.#tape = { tape: upload(t.words, 'wavegrad tape', UNIFORM), consts: upload(t.consts, 'wavegrad tape constants', STORAGE), registers: t.registers, chunks: t.chunks }
    this.engine.noteTape(this)
    return this.#tape
  }

  /** Frees this kernel's own GPU memory (the interpreter tape; a later interpreter run uploads it again). */
  destroy(): void {
    this.#tape?.tape.destroy()
    this.#tape?.consts.destroy()
    this.#tape = undefined
    this.#group = undefined
    this.engine.forgetTape(this)
  }

  /** Group 1 of the interpreter, rebuilt when the engine's register file changed. */
  interpreterGroup(regs: GPUBuffer): GPUBindGroup {
    if (this.#group?.regs === regs) return this.#group.group
    const { tape, consts } = this.tapeBuffers()
    const group = this.engine.interpreterBindGroup(tape, consts, regs)
    this.#group = { regs, group }
    return group
  }

  /**
   * Values and Jacobians for every binding, read back as Float32Array.
   *
   * @example
   * const k = engine.compile(parse('f = a*x^2')); const r = await k.run({ x: xs, a: 0.5 })
   */
  async run(bindings: Bindings, options: RunOptions = {}): Promise<GpuResults> {
    const checked = this.#check(bindings)
    const { plan, graph } = this
    const weights = checkWeights(graph, options.weights, checked.size, options.sumsOnly)
    // A parameter's rows are summed over the batch on the GPU instead of being read back.
    const sumsOnly = options.sumsOnly ?? false
    const summed = plan.rows.flatMap((row, r) => ((row.kind === 'jacobian' && graph.isParam(row.input!)) || (sumsOnly && row.kind === 'value') ? [r] : []))
    const skipped = (r: number) => summed.includes(r) || (sumsOnly && plan.rows[r]!.kind === 'jacobian')
    const rows = plan.rows.map((row, r) => (skipped(r) ? undefined : options.into ? intoRow(options.into, row, checked.size) : new Float32Array(checked.size)))
    const sums = summed.length ? { rows: summed, totals: new Float64Array(summed.length) } : undefined
    const tier = this.#tier(options.tier)
    const weightSource = weights as Float32Array | number[] | undefined
    const timings = await this.#execute(options.tier, () => this.engine.exclusive(() => this.engine.execute(this, checked, { kind: 'readback', rows, ...(sums ? { sums } : {}) }, options, tier, weightSource)))
    const values: Record<string, Float32Array> = {}
    const jacobian: Record<string, Record<string, Float32Array>> = {}
    const gradients: Record<string, Record<string, number>> = {}
    const totals: Record<string, number> = {}
    const sumOf = (r: number) => sums!.totals[summed.indexOf(r)]!
    plan.rows.forEach((row, r) => {
      if (row.kind === 'value') {
        if (sumsOnly) totals[row.output] = sumOf(r)
        else {
          values[row.output] = rows[r]!
          jacobian[row.output] = {}
        }
        gradients[row.output] = {}
      } else if (rows[r]) {
        jacobian[row.output]![row.input!] = rows[r]
      } else if (summed.includes(r)) {
        gradients[row.output]![row.input!] = sumOf(r)
      }
    })
    const result: GpuResults = {
      values,
      jacobian,
      size: checked.size,
      backend: this.engine.description,
      tier,
      ...(graph.params.length && plan.jacobian ? { gradients } : {}),
      ...(sumsOnly ? { totals } : {}),
    }
    return timings ? { ...result, timings } : result
  }

  /**
   * The same rows as run(), left in a GPUBuffer (no readback). Resolves once the work is submitted.
   *
   * @example
   * const res = await kernel.runToBuffer({ x: { buffer: xs, length: n }, a: 1.5 })
   * pass.setBindGroup(...res.buffer, res.offset('f', 'x')...) ; res.buffer.destroy() when done
   */
  async runToBuffer(bindings: Bindings, options: ToBufferOptions = {}): Promise<GpuResidentResults> {
    const checked = this.#check(bindings)
    const { plan } = this
    const device = this.engine.device
    const bytes = Math.max(plan.rows.length * checked.size * 4, 4)
    if (bytes > device.limits.maxBufferSize) {
      throw new BindingError(`${checked.size} bindings × ${plan.rows.length} rows need ${bytes} bytes, more than this device's maxBufferSize (${device.limits.maxBufferSize}); use run() or fewer bindings`)
    }
    const into = options.into
    if (into && (into.size < bytes || (into.usage & (STORAGE | COPY_DST)) !== (STORAGE | COPY_DST))) {
      throw new BindingError(`'into' must be a STORAGE | COPY_DST buffer of at least ${bytes} bytes (got ${into.size} bytes, usage ${into.usage})`)
    }
    const tier = this.#tier(options.tier)
    const buffer = into ?? device.createBuffer({ label: 'wavegrad results (caller-owned)', size: bytes, usage: STORAGE | COPY_SRC | COPY_DST })
    try {
      await this.#execute(options.tier, () => this.engine.exclusive(() => this.engine.execute(this, checked, { kind: 'buffer', buffer }, {}, tier)))
    } catch (e) {
      if (!into) buffer.destroy()
      throw e
    }
    const inputs = plan.inputs
    const outputs = plan.outputs
    const size = checked.size
    return {
      buffer,
      size,
      rows: plan.rows,
      backend: this.engine.description,
      tier,
      offset(output: string, input?: string): number {
        const o = outputs.indexOf(output)
        const i = input === undefined ? undefined : inputs.indexOf(input)
        if (o < 0 || i === -1) throw new BindingError(`no row for output '${output}'${input === undefined ? '' : ` and input '${input}'`}`)
        return rowIndex(plan, o, i) * size * 4
      },
    }
  }

  #check(bindings: Bindings) {
    if (this.graph.inputs.join(',') !== this.plan.inputs.join(',')) {
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
