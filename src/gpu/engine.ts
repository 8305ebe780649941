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
import { emitWgsl } from '../codegen/wgsl.js'
import type { Graph } from '../graph.js'
import { levelize } from '../levelize.js'
import { dispatchGrid, planKernels, tileSize, WORKGROUP_SIZE } from '../plan.js'
import { CHUNK_BYTES, emitInterpreterWgsl } from '../codegen/interpreter.js'
import { interpreterBindGroupLayout, kernelBindGroupLayout, SlotPool, STORAGE, UNIFORM, type Slot } from './buffers.js'
import { acquireDevice, type DeviceOptions } from './device.js'
import { DeviceError, ShaderError } from './errors.js'
import { Kernel, type GpuResidentResults, type GpuResults, type RunOptions, type Tier, type ToBufferOptions, type Timings } from './kernel.js'

/** Default cap on bindings per tile: large enough to fill a GPU, small enough to pipeline. */
const DEFAULT_TILE = 1 << 20

export interface GpuEngineOptions extends DeviceOptions {
  /** Largest number of bindings per tile (default 2^20; device limits may lower it). */
  readonly maxTileSize?: number
  /** Print each kernel's plan and WGSL (also: env WAVEGRAD_DEBUG=1). */
  readonly debug?: boolean
  /**
   * 'fused' (default): every graph gets its own fused kernel. 'interpreter': every graph runs on
   * one tape interpreter, compiled once per engine (no per-graph compile). 'auto': a new graph runs
   * on the interpreter until its fused kernel is built, then on the fused kernel. The interpreter
   * is built at engine creation unless the tier is 'fused'. On the software adapter the
   * interpreter runs ~40-60x slower than a fused kernel (bench/RESULTS.md), so 'auto' only pays
   * off where a fused compile takes seconds (graphs of thousands of nodes).
   */
  readonly tier?: Tier
}

/** Where a run's rows go: into Float32Arrays (readback) or into a GPUBuffer of rows × size floats. */
export type Sink = { readonly kind: 'readback'; readonly rows: Float32Array[] } | { readonly kind: 'buffer'; readonly buffer: GPUBuffer }

/** Everything one run's tile loop needs (see GpuEngine.execute). */
interface TileRun {
  readonly kernel: Kernel
  readonly pipeline: GPUComputePipeline
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
  /** Per input: 1 for an array, 0 for a broadcast number. */
  readonly steps: Uint32Array<ArrayBuffer>
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
  readonly #owned: boolean
  readonly #keepAlive: unknown
  readonly #maxTile: number
  readonly #debug: boolean
  readonly #pipelineLayout: GPUPipelineLayout
  readonly #interpreterLayout: GPUBindGroupLayout
  readonly #interpreterPipelineLayout: GPUPipelineLayout
  #interpreter: Promise<GPUComputePipeline> | undefined
  /** The tier runs use unless they ask for another. */
  readonly tier: Tier
  readonly #slots: SlotPool
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>()
  readonly #kernels = new WeakMap<Graph, { version: number; kernel: Kernel }>()
  readonly #uncaptured: string[] = []
  readonly #onError = (e: Event) => {
    this.#uncaptured.push((e as GPUUncapturedErrorEvent).error.message)
  }
  #scratch = new Float32Array(0)
  #queue: Promise<unknown> = Promise.resolve()
  #lost: DeviceError | undefined
  #destroyed = false

  constructor(acquired: { device: GPUDevice; description: string; owned: boolean; keepAlive: unknown }, options: GpuEngineOptions = {}) {
    this.device = acquired.device
    this.description = acquired.description
    this.#owned = acquired.owned
    this.#keepAlive = acquired.keepAlive
    this.#maxTile = Math.max(1, Math.floor(options.maxTileSize ?? DEFAULT_TILE))
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    this.#debug = options.debug ?? env?.WAVEGRAD_DEBUG === '1'
    this.device.addEventListener('uncapturederror', this.#onError)
    void this.device.lost.then((info) => {
      if (!this.#destroyed) this.#lost = new DeviceError(`the GPU device was lost (${info.reason}): ${info.message}`)
    })
    const layout = kernelBindGroupLayout(this.device)
    this.#pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout] })
    this.#interpreterLayout = interpreterBindGroupLayout(this.device)
    this.#interpreterPipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [layout, this.#interpreterLayout] })
    this.#slots = new SlotPool(this.device, layout)
    this.tier = options.tier ?? 'fused'
    // Built now, in the background, where it may run a graph's first evaluation.
    if (this.tier !== 'fused') void this.interpreter().catch(() => undefined)
  }

  /** The interpreter pipeline, built on first use (at creation unless the tier is 'fused'). */
  interpreter(): Promise<GPUComputePipeline> {
    if (!this.#interpreter) {
      const building = this.#buildPipeline(emitInterpreterWgsl(WORKGROUP_SIZE), this.#interpreterPipelineLayout, true)
      this.#interpreter = building
      building.catch(() => {
        if (this.#interpreter === building) this.#interpreter = undefined
      })
    }
    return this.#interpreter
  }

  /** A bind group for the interpreter's group 1 (a kernel caches it per slot); one tape chunk at a time. */
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

  /** What the engine holds on the GPU now: buffers (count, bytes) and cached pipelines. */
  stats(): { buffers: number; bufferBytes: number; pipelines: number } {
    return { ...this.#slots.stats(), pipelines: this.#pipelines.size }
  }

  /** The device limits tiling reads. */
  get limits(): GPUSupportedLimits {
    return this.device.limits
  }

  /**
   * Plans and emits the kernel for a graph and starts building its pipeline (await `.ready`, or
   * just call `.run`). The graph's structure at this moment is what the kernel computes.
   */
  compile(graph: Graph): Kernel {
    this.#check()
    const levels = levelize(graph)
    const plan = planKernels(levels)
    const wgsl = emitWgsl(levels, plan)
    if (this.#debug) console.error(`[wavegrad] plan ${JSON.stringify(plan)}\n[wavegrad] WGSL\n${wgsl}`)
    const build = () => {
      let pipeline = this.#pipelines.get(wgsl)
      if (!pipeline) {
        pipeline = this.#buildPipeline(wgsl, this.#pipelineLayout, false)
        this.#pipelines.set(wgsl, pipeline)
        pipeline.catch(() => this.#pipelines.delete(wgsl))
      }
      return pipeline
    }
    return new Kernel(this, graph, levels, plan, wgsl, build)
  }

  /** compile (cached per graph and version) + run: values and Jacobians read back. */
  async evaluate(graph: Graph, bindings: Bindings, options: RunOptions = {}): Promise<GpuResults> {
    return this.#kernelFor(graph).run(bindings, options)
  }

  /** compile (cached) + runToBuffer: the rows stay on the GPU (see Kernel.runToBuffer). */
  async evaluateToBuffer(graph: Graph, bindings: Bindings, options: ToBufferOptions = {}): Promise<GpuResidentResults> {
    return this.#kernelFor(graph).runToBuffer(bindings, options)
  }

  /** Frees the engine's buffers (and its device, unless the caller supplied it). */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.device.removeEventListener('uncapturederror', this.#onError)
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
  async execute(kernel: Kernel, bindings: CheckedBindings, sink: Sink, options: RunOptions, tier: 'fused' | 'interpreter'): Promise<Timings | undefined> {
    const { size, sources } = bindings
    const profile = options.profile ?? false
    const compute = !options.transferOnly
    const pipeline = await (tier === 'fused' ? kernel.pipeline : this.interpreter())
    if (size === 0) return undefined
    const t0 = performance.now()
    const timings: Timings = { upload: 0, dispatch: 0, readback: 0, total: 0, tiles: 0 }
    const tape = tier === 'interpreter' ? kernel.tapeBuffers() : undefined
    const tile = tileSize(kernel.plan, this.device.limits, size, this.#maxTile, tape?.registers ?? 0)
    if (this.#scratch.length < tile) this.#scratch = new Float32Array(tile)
    const steps = new Uint32Array(sources.map((s) => (typeof s === 'number' ? 0 : 1)))
    const pending: (Promise<void> | undefined)[] = [undefined, undefined]

    try {
      await this.#tiles({ kernel, pipeline, sources, size, tile, sink, profile, compute, timings, pending, tape, steps })
    } catch (e) {
      // Let the other slot's readback finish before the next run may reuse (and map) its buffers.
      await Promise.allSettled(pending)
      throw e
    }
    await Promise.all(pending)
    this.#throwIfBroken()
    timings.total = performance.now() - t0
    return profile ? timings : undefined
  }

  /** The tile loop of execute(). */
  async #tiles(run: TileRun): Promise<void> {
    const { kernel, pipeline, sources, size, tile, sink, profile, compute, timings, pending, tape, steps } = run
    const { plan } = kernel
    const device = this.device
    const limits = device.limits
    const nIn = plan.inputs.length
    const rowCount = plan.rows.length
    const outBytes = rowCount * tile * 4
    for (let start = 0, t = 0; start < size; start += tile, t++) {
      const len = Math.min(tile, size - start)
      const k = t % 2
      if (pending[k]) await pending[k]
      const [[slot, group1], allocated] = this.#guard(() => {
        const slot = this.#slots.get(k, Math.max(nIn, 1) * tile * 4, outBytes, nIn)
        return [slot, tape ? kernel.interpreterGroup(k, this.#slots.regs(slot, tape.registers * tile * 4)) : undefined] as const
      }, 'buffer allocation failed')
      await allocated
      const grid = dispatchGrid(len, plan.workgroupSize, limits.maxComputeWorkgroupsPerDimension)
      const upload = (enc: GPUCommandEncoder) => {
        device.queue.writeBuffer(slot.params, 0, new Uint32Array([len, tile, grid.threadsPerRow, 0]))
        if (nIn) device.queue.writeBuffer(slot.steps, 0, steps)
        sources.forEach((src, i) => this.#upload(enc, slot.inputs, i * tile * 4, src, start, len))
      }
      const dispatch = (enc: GPUCommandEncoder) => {
        if (!compute) return
        const pass = enc.beginComputePass()
        pass.setPipeline(pipeline)
        pass.setBindGroup(0, slot.bindGroup)
        if (group1) {
          // The interpreter: one dispatch per tape chunk; registers carry over between them.
          for (let c = 0; c < tape!.chunks; c++) {
            pass.setBindGroup(1, group1, [c * CHUNK_BYTES])
            pass.dispatchWorkgroups(grid.x, grid.y)
          }
        } else {
          pass.dispatchWorkgroups(grid.x, grid.y)
        }
        pass.end()
      }
      const deliver = (enc: GPUCommandEncoder) => {
        if (sink.kind === 'readback') enc.copyBufferToBuffer(slot.results, 0, this.#slots.staging(slot, outBytes), 0, outBytes)
        else for (let r = 0; r < rowCount; r++) enc.copyBufferToBuffer(slot.results, r * tile * 4, sink.buffer, (r * size + start) * 4, len * 4)
      }
      const submit = (...stages: ((enc: GPUCommandEncoder) => void)[]) => {
        const enc = device.createCommandEncoder()
        for (const stage of stages) stage(enc)
        device.queue.submit([enc.finish()])
      }
      const readback = () => (sink.kind === 'readback' ? this.#readback(slot, sink.rows, tile, start, len, outBytes) : Promise.resolve())
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
        timings.upload += await stage(() => submit(upload), 'upload failed')
        timings.dispatch += await stage(() => submit(dispatch), 'dispatch failed')
        const [, delivered] = this.#guard(() => submit(deliver), 'copying results failed')
        await delivered
        await readback()
        timings.readback += performance.now() - mark
      } else {
        const [, checks] = this.#guard(() => submit(upload, dispatch, deliver), 'GPU submission failed')
        pending[k] = checks.then(readback)
        pending[k]!.catch(() => undefined)
      }
      timings.tiles++
    }
  }

  #kernelFor(graph: Graph): Kernel {
    const hit = this.#kernels.get(graph)
    if (hit && hit.version === graph.version) return hit.kernel
    const kernel = this.compile(graph)
    this.#kernels.set(graph, { version: graph.version, kernel })
    return kernel
  }

  #check(): void {
    if (this.#destroyed) throw new DeviceError('this GPU engine was destroyed; create a new one')
    if (this.#lost) throw this.#lost
  }

  async #buildPipeline(code: string, layout: GPUPipelineLayout, interpreter: boolean): Promise<GPUComputePipeline> {
    const device = this.device
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
      throw new DeviceError(`compute pipeline creation failed: ${(e as Error).message}`)
    }
    // Warm-up: a software adapter compiles the pipeline at its first dispatch, not above. It uses
    // buffers of its own so that it never races a run for the slots.
    const [, warmed] = this.#guard(() => {
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, this.#slots.warmup())
      if (interpreter) {
        const buffer = (size: number, usage: number) => device.createBuffer({ label: 'wavegrad warm-up', size, usage })
        pass.setBindGroup(1, this.interpreterBindGroup(buffer(CHUNK_BYTES, UNIFORM), buffer(16, STORAGE), buffer(16, STORAGE)), [0])
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
      if (o) throw new DeviceError(`${what}: out of GPU memory: ${o.message}`)
      if (v) throw new DeviceError(`${what}: ${v.message}`)
    })
    check.catch(() => undefined)
    if (failed) throw error
    return [value as T, check]
  }

  /** Throws if the device was lost or reported an error nobody caught. */
  #throwIfBroken(): void {
    if (this.#lost) throw this.#lost
    if (this.#uncaptured.length) throw new DeviceError(`GPU error: ${this.#uncaptured.splice(0).join('; ')}`)
  }

  /** Puts input values for bindings [start, start + len) at `offset` of the tile's inputs buffer. */
  #upload(enc: GPUCommandEncoder, buffer: GPUBuffer, offset: number, src: BindingSource, start: number, len: number): void {
    const queue = this.device.queue
    if (typeof src === 'number') {
      // A broadcast number: one float, read by every thread (its step is 0).
      queue.writeBuffer(buffer, offset, new Float32Array([src]))
    } else if (isGpuBinding(src)) {
      enc.copyBufferToBuffer(src.buffer, (src.offset ?? 0) + start * 4, buffer, offset, len * 4)
    } else if (src instanceof Float32Array) {
      queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset + start * 4, len * 4)
    } else {
      const scratch = this.#scratch
      if (ArrayBuffer.isView(src)) scratch.set((src as unknown as Float64Array).subarray(start, start + len))
      else for (let j = 0; j < len; j++) scratch[j] = src[start + j]!
      queue.writeBuffer(buffer, offset, scratch.buffer, 0, len * 4)
    }
  }

  async #readback(slot: Slot, rows: Float32Array[], tile: number, start: number, len: number, bytes: number): Promise<void> {
    const staging = slot.staging!
    try {
      await staging.mapAsync(1, 0, bytes)
    } catch (e) {
      throw this.#lost ?? new DeviceError(`reading results back failed: ${(e as Error).message}`)
    }
    const data = new Float32Array(staging.getMappedRange(0, bytes))
    for (let r = 0; r < rows.length; r++) rows[r]!.set(data.subarray(r * tile, r * tile + len), start)
    staging.unmap()
  }
}
