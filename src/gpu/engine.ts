/**
 * GPU engine: run. In: a Graph and bindings. Out: the same Results as evaluateCpu, in Float32Array,
 * computed by WGSL compute shaders, with the adapter named in `backend`.
 *
 * Lifecycle: compile() levelizes, plans and emits WGSL at once and starts the pipeline build
 * (async, cached by WGSL text, finished by a warm-up dispatch because software adapters compile at
 * first dispatch). run() uploads tile by tile into two alternating buffer slots so that tile i's
 * readback overlaps tile i+1's upload and compute; buffers grow only and are reused across runs.
 * Runs on one engine are serialized (they share the slots).
 *
 * Errors are never silent: every object creation and submission sits in validation and
 * out-of-memory error scopes; uncaptured errors and device loss fail the call with DeviceError; a
 * WGSL error raises ShaderError with line:column and the source.
 */
import { checkBindings, type Bindings } from '../bindings.js'
import { emitWgsl } from '../codegen/wgsl.js'
import { GraphError } from '../errors.js'
import type { Graph } from '../graph.js'
import { levelize } from '../levelize.js'
import { dispatchGrid, planKernels, tileSize, type Plan } from '../plan.js'
import type { Results } from '../reference.js'
import { acquireDevice, type DeviceOptions } from './device.js'
import { DeviceError, ShaderError } from './errors.js'

// WebGPU enum values (globals like GPUBufferUsage are absent in Node).
const MAP_READ = 0x1
const COPY_SRC = 0x4
const COPY_DST = 0x8
const UNIFORM = 0x40
const STORAGE = 0x80
const COMPUTE_STAGE = 0x4

/** Default cap on bindings per tile: large enough to fill a GPU, small enough to pipeline. */
const DEFAULT_TILE = 1 << 20

export interface GpuEngineOptions extends DeviceOptions {
  /** Largest number of bindings per tile (default 2^20; device limits may lower it). */
  readonly maxTileSize?: number
  /** Print each kernel's plan and WGSL (also: env WAVEGRAD_DEBUG=1). */
  readonly debug?: boolean
}

export interface RunOptions {
  /** Measure upload / dispatch / readback separately (serializes them; for benchmarks). */
  readonly profile?: boolean
  /**
   * Benchmarks only: do every upload, copy and readback of the run but skip the compute dispatch,
   * to measure the transfer floor of the same bytes. The numbers returned are meaningless.
   */
  readonly transferOnly?: boolean
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
  readonly timings?: Timings
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

interface Slot {
  inputs: GPUBuffer
  results: GPUBuffer
  staging: GPUBuffer
  params: GPUBuffer
  bindGroup: GPUBindGroup
}

export class GpuEngine {
  readonly device: GPUDevice
  /** The adapter, in words; every result's `backend` says it. */
  readonly description: string
  readonly #owned: boolean
  readonly #keepAlive: unknown
  readonly #maxTile: number
  readonly #debug: boolean
  readonly #layout: GPUBindGroupLayout
  readonly #pipelineLayout: GPUPipelineLayout
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>()
  readonly #kernels = new WeakMap<Graph, { version: number; kernel: Kernel }>()
  readonly #uncaptured: string[] = []
  #slots: (Slot | undefined)[] = [undefined, undefined]
  #warmup: GPUBindGroup | undefined
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
    this.#debug = options.debug ?? (env?.WAVEGRAD_DEBUG === '1')
    this.device.addEventListener('uncapturederror', (e) => {
      this.#uncaptured.push((e as GPUUncapturedErrorEvent).error.message)
    })
    void this.device.lost.then((info) => {
      if (!this.#destroyed) this.#lost = new DeviceError(`the GPU device was lost (${info.reason}): ${info.message}`)
    })
    this.#layout = this.device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: COMPUTE_STAGE, buffer: { type: 'storage' } },
        { binding: 2, visibility: COMPUTE_STAGE, buffer: { type: 'uniform' } },
      ],
    })
    this.#pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [this.#layout] })
  }

  /** What the engine holds on the GPU now: buffers (count, bytes) and cached pipelines. */
  stats(): { buffers: number; bufferBytes: number; pipelines: number } {
    let buffers = 0
    let bufferBytes = 0
    for (const s of this.#slots) {
      if (!s) continue
      for (const b of [s.inputs, s.results, s.staging, s.params]) {
        buffers++
        bufferBytes += b.size
      }
    }
    return { buffers, bufferBytes, pipelines: this.#pipelines.size }
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
    let pipeline = this.#pipelines.get(wgsl)
    if (!pipeline) {
      pipeline = this.#buildPipeline(wgsl)
      this.#pipelines.set(wgsl, pipeline)
      pipeline.catch(() => this.#pipelines.delete(wgsl))
    }
    return new Kernel(this, graph, plan, wgsl, pipeline)
  }

  /** compile (cached per graph and version) + run. */
  async evaluate(graph: Graph, bindings: Bindings, options: RunOptions = {}): Promise<GpuResults> {
    const hit = this.#kernels.get(graph)
    let kernel = hit && hit.version === graph.version ? hit.kernel : undefined
    if (!kernel) {
      kernel = this.compile(graph)
      this.#kernels.set(graph, { version: graph.version, kernel })
    }
    return kernel.run(bindings, options)
  }

  /** Frees the engine's buffers (and its device, unless the caller supplied it). */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    for (const s of this.#slots) if (s) for (const b of [s.inputs, s.results, s.staging, s.params]) b.destroy()
    this.#slots = [undefined, undefined]
    if (this.#owned) this.device.destroy()
    void this.#keepAlive
  }

  #check(): void {
    if (this.#destroyed) throw new DeviceError('this GPU engine was destroyed; create a new one')
    if (this.#lost) throw this.#lost
  }

  async #buildPipeline(code: string): Promise<GPUComputePipeline> {
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
      pipeline = await device.createComputePipelineAsync({ layout: this.#pipelineLayout, compute: { module, entryPoint: 'main' } })
    } catch (e) {
      throw new DeviceError(`compute pipeline creation failed: ${(e as Error).message}`)
    }
    // Warm-up: a software adapter compiles the pipeline at its first dispatch, not above. It uses
    // buffers of its own so that it never races a run for the slots.
    const [, warmed] = this.#guard(() => {
      const bindGroup = this.#warmupBindGroup()
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, bindGroup)
      pass.dispatchWorkgroups(1)
      pass.end()
      device.queue.submit([enc.finish()])
    }, 'warm-up dispatch failed')
    await warmed
    await device.queue.onSubmittedWorkDone()
    this.#throwIfBroken()
    return pipeline
  }

  /** A bind group over 4-byte buffers with params.n = 0: every thread returns at once. */
  #warmupBindGroup(): GPUBindGroup {
    if (this.#warmup) return this.#warmup
    const device = this.device
    const tiny = (usage: number) => device.createBuffer({ label: 'wavegrad warm-up', size: 16, usage })
    const params = tiny(UNIFORM | COPY_DST)
    device.queue.writeBuffer(params, 0, new Uint32Array([0, 1, 64, 0]))
    this.#warmup = device.createBindGroup({
      layout: this.#layout,
      entries: [
        { binding: 0, resource: { buffer: tiny(STORAGE) } },
        { binding: 1, resource: { buffer: tiny(STORAGE) } },
        { binding: 2, resource: { buffer: params } },
      ],
    })
    return this.#warmup
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

  /** Slot i with at least the given byte sizes (grow-only). */
  #slot(i: number, inputBytes: number, resultBytes: number): Slot {
    const old = this.#slots[i]
    if (old && old.inputs.size >= inputBytes && old.results.size >= resultBytes) return old
    const device = this.device
    const inBytes = Math.max(inputBytes, old?.inputs.size ?? 0, 4)
    const outBytes = Math.max(resultBytes, old?.results.size ?? 0, 4)
    if (old) for (const b of [old.inputs, old.results, old.staging, old.params]) b.destroy()
    const inputs = device.createBuffer({ label: `wavegrad inputs ${i}`, size: inBytes, usage: STORAGE | COPY_DST })
    const results = device.createBuffer({ label: `wavegrad results ${i}`, size: outBytes, usage: STORAGE | COPY_SRC })
    const staging = device.createBuffer({ label: `wavegrad staging ${i}`, size: outBytes, usage: MAP_READ | COPY_DST })
    const params = device.createBuffer({ label: `wavegrad params ${i}`, size: 16, usage: UNIFORM | COPY_DST })
    const bindGroup = device.createBindGroup({
      layout: this.#layout,
      entries: [
        { binding: 0, resource: { buffer: inputs } },
        { binding: 1, resource: { buffer: results } },
        { binding: 2, resource: { buffer: params } },
      ],
    })
    const slot = { inputs, results, staging, params, bindGroup }
    this.#slots[i] = slot
    return slot
  }

  /** Serializes runs: they share the buffer slots. */
  exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#check()
      return f()
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  /** One run of a compiled kernel over all tiles of a batch. */
  async runTiles(kernel: Kernel, arrays: readonly ArrayLike<number>[], size: number, options: RunOptions): Promise<{ rows: Float32Array[]; timings?: Timings }> {
    const profile = options.profile ?? false
    const compute = !options.transferOnly
    const pipeline = await kernel.pipeline
    const { plan } = kernel
    const device = this.device
    const limits = device.limits
    const rows = plan.rows.map(() => new Float32Array(size))
    if (size === 0) return { rows }
    const t0 = performance.now()
    const timings: Timings = { upload: 0, dispatch: 0, readback: 0, total: 0, tiles: 0 }
    const tile = tileSize(plan, limits, size, this.#maxTile)
    const nIn = plan.inputs.length
    const inBytes = Math.max(nIn, 1) * tile * 4
    const outBytes = plan.rows.length * tile * 4
    if (this.#scratch.length < tile) this.#scratch = new Float32Array(tile)
    const pending: (Promise<void> | undefined)[] = [undefined, undefined]

    for (let start = 0, t = 0; start < size; start += tile, t++) {
      const len = Math.min(tile, size - start)
      const k = t % 2
      if (pending[k]) await pending[k]
      const [slot, allocated] = this.#guard(() => this.#slot(k, inBytes, outBytes), 'buffer allocation failed')
      await allocated
      const grid = dispatchGrid(len, plan.workgroupSize, limits.maxComputeWorkgroupsPerDimension)
      const upload = () => {
        device.queue.writeBuffer(slot.params, 0, new Uint32Array([len, tile, grid.threadsPerRow, 0]))
        for (let i = 0; i < nIn; i++) this.#upload(slot.inputs, i * tile * 4, arrays[i]!, start, len)
      }
      const dispatch = (enc: GPUCommandEncoder) => {
        if (!compute) return
        const pass = enc.beginComputePass()
        pass.setPipeline(pipeline)
        pass.setBindGroup(0, slot.bindGroup)
        pass.dispatchWorkgroups(grid.x, grid.y)
        pass.end()
      }
      const copy = (enc: GPUCommandEncoder) => enc.copyBufferToBuffer(slot.results, 0, slot.staging, 0, outBytes)
      const submit = (...steps: ((enc: GPUCommandEncoder) => void)[]) => {
        const enc = device.createCommandEncoder()
        for (const step of steps) step(enc)
        device.queue.submit([enc.finish()])
      }
      let checks: Promise<void>
      if (profile) {
        let mark = performance.now()
        const stage = async (f: () => void, what: string) => {
          const [, ok] = this.#guard(f, what)
          await ok
          await device.queue.onSubmittedWorkDone()
          const now = performance.now()
          const spent = now - mark
          mark = now
          return spent
        }
        timings.upload += await stage(upload, 'upload failed')
        timings.dispatch += await stage(() => submit(dispatch), 'dispatch failed')
        const [, copied] = this.#guard(() => submit(copy), 'copy to staging failed')
        checks = copied
        pending[k] = checks.then(() => this.#readback(slot, rows, tile, start, len, outBytes)).then(() => {
          timings.readback += performance.now() - mark
        })
        await pending[k]
      } else {
        ;[, checks] = this.#guard(() => {
          upload()
          submit(dispatch, copy)
        }, 'GPU submission failed')
        pending[k] = checks.then(() => this.#readback(slot, rows, tile, start, len, outBytes))
      }
      pending[k]!.catch(() => undefined)
      timings.tiles++
    }
    await Promise.all(pending)
    this.#throwIfBroken()
    timings.total = performance.now() - t0
    return profile ? { rows, timings } : { rows }
  }

  #upload(buffer: GPUBuffer, offset: number, src: ArrayLike<number>, start: number, len: number): void {
    if (src instanceof Float32Array) {
      this.device.queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset + start * 4, len * 4)
      return
    }
    const scratch = this.#scratch
    if (ArrayBuffer.isView(src)) scratch.set((src as unknown as Float64Array).subarray(start, start + len))
    else for (let j = 0; j < len; j++) scratch[j] = src[start + j]!
    this.device.queue.writeBuffer(buffer, offset, scratch.buffer, 0, len * 4)
  }

  async #readback(slot: Slot, rows: Float32Array[], tile: number, start: number, len: number, bytes: number): Promise<void> {
    try {
      await slot.staging.mapAsync(1, 0, bytes)
    } catch (e) {
      throw this.#lost ?? new DeviceError(`reading results back failed: ${(e as Error).message}`)
    }
    const data = new Float32Array(slot.staging.getMappedRange(0, bytes))
    for (let r = 0; r < rows.length; r++) rows[r]!.set(data.subarray(r * tile, r * tile + len), start)
    slot.staging.unmap()
  }
}

/** A compiled graph: reusable on any bindings of the graph's inputs. */
export class Kernel {
  /** Resolves when the pipeline is built and warmed up; rejects with ShaderError/DeviceError. */
  readonly ready: Promise<void>
  constructor(
    readonly engine: GpuEngine,
    readonly graph: Graph,
    readonly plan: Plan,
    readonly wgsl: string,
    readonly pipeline: Promise<GPUComputePipeline>,
  ) {
    this.ready = pipeline.then(() => undefined)
    this.ready.catch(() => undefined)
  }

  /** Values and Jacobians for every binding, as Float32Array. */
  async run(bindings: Bindings, options: RunOptions = {}): Promise<GpuResults> {
    const { plan } = this
    if (this.graph.inputs.join(',') !== plan.inputs.join(',')) {
      throw new GraphError(`the graph's inputs changed after compile (now ${this.graph.inputs.join(', ')}); compile it again`)
    }
    const { size, arrays } = checkBindings(this.graph, bindings)
    return this.engine.exclusive(async () => {
      const { rows, timings } = await this.engine.runTiles(this, arrays, size, options)
      const values: Record<string, Float32Array> = {}
      const jacobian: Record<string, Record<string, Float32Array>> = {}
      plan.rows.forEach((row, r) => {
        if (row.kind === 'value') {
          values[row.output] = rows[r]!
          jacobian[row.output] = {}
        } else {
          jacobian[row.output]![row.input!] = rows[r]!
        }
      })
      const result: GpuResults = { values, jacobian, size, backend: this.engine.description }
      return timings ? { ...result, timings } : result
    })
  }
}
