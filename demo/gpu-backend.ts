/**
 * The WebGPU backend. In: a job (program, parameters, view). Out: the first output and its
 * gradient over a 1024 × 1024 grid (2^20 bindings), evaluated by `kernel.runToBuffer` straight from
 * grid buffers on the GPU into a results buffer the renderer reads: nothing goes back to JS but a
 * 256-point sample of the drawn rows (value, ∂/∂x, ∂/∂y), compared with the float64 reference at
 * the same grid points. So the check covers what is on screen: the grid fill, the kernel and the
 * rows the renderer reads.
 *
 * Parameters are broadcast numbers, so a slider move uploads nothing; a new view refills the grid
 * buffers on the GPU (grid.ts).
 *
 * Device loss: the backend is dead once its device is lost (`lost` resolves); the page makes a new
 * one (main.ts) and destroys this one.
 */
import { BUFFER_USAGE, compareResults, createGpuEngine, evaluateCpu, type GpuEngine, type Kernel } from 'wavegrad'
import { sampleBindings, type Backend, type Evaluation, type Job } from './backend.js'
import type { View } from './examples.js'
import { GridBuffers } from './grid.js'
import { FieldRenderer, type FieldRows } from './render.js'
import type { Shading } from './shading.js'

const { STORAGE, COPY_SRC, COPY_DST, MAP_READ } = BUFFER_USAGE

/** Grid side: 2^20 bindings. */
const GRID = 1024
/** The verification sample is a SAMPLE × SAMPLE sub-lattice of the grid. */
const SAMPLE = 16
/** Compiled kernels kept, by source text (slider moves reuse them). */
const KERNEL_CACHE = 16

/**
 * Starts the engine and the renderer; throws (DeviceError) where the browser has no WebGPU.
 * `lost` resolves, with the reason, if the device is lost later.
 *
 * @example
 * const backend = await createGpuBackend(canvas); await backend.evaluate(job); await backend.render(shading)
 */
export async function createGpuBackend(canvas: HTMLCanvasElement): Promise<GpuBackend> {
  // (The page replaces a lost device itself, with a new engine and renderer: no engine-level recovery.)
  const engine = await createGpuEngine({ recover: false })
  try {
    const renderer = await FieldRenderer.create(engine.device, canvas)
    return new GpuBackend(engine, renderer, await GridBuffers.create(engine.device, GRID))
  } catch (e) {
    engine.destroy()
    throw e
  }
}

export class GpuBackend implements Backend {
  readonly size = GRID
  /** Resolves, with the reason in words, when the device is lost (or destroyed). */
  readonly lost: Promise<string>
  /** Set when `lost` resolves, in the same microtask: a failing call can ask whether that was why. */
  isLost = false
  readonly #engine: GpuEngine
  readonly #renderer: FieldRenderer
  readonly #grid: GridBuffers
  readonly #kernels = new Map<string, Kernel>()
  /** The signal each cached kernel was compiled with (it stops that kernel's fused build). */
  readonly #compiledFor = new WeakMap<Kernel, AbortSignal>()
  #results: GPUBuffer | undefined
  #last: { readonly rows: FieldRows; readonly view: View } | undefined

  constructor(engine: GpuEngine, renderer: FieldRenderer, grid: GridBuffers) {
    this.#engine = engine
    this.#renderer = renderer
    this.#grid = grid
    this.lost = engine.device.lost.then((info) => {
      this.isLost = true
      return info.message || info.reason || 'no reason given'
    })
  }

  get label(): string {
    return this.#engine.description
  }

  /** Test hook: destroys the device, as a driver reset or a GPU process crash would lose it. */
  loseDevice(): void {
    this.#engine.device.destroy()
  }

  /** Frees the engine and the device (after a loss: what is left of them). */
  destroy(): void {
    this.#grid.destroy()
    this.#results?.destroy()
    this.#engine.destroy()
  }

  async evaluate(job: Job): Promise<Evaluation> {
    const kernel = this.#kernel(job)
    try {
      return await this.#evaluate(job, kernel)
    } catch (e) {
      // A kernel whose build this job's signal stopped would never be fused: compile it afresh next time.
      if (job.signal?.aborted && this.#kernels.get(job.source) === kernel && this.#compiledFor.get(kernel) === job.signal) {
        this.#kernels.delete(job.source)
        kernel.destroy()
      }
      throw e
    }
  }

  async #evaluate(job: Job, kernel: Kernel): Promise<Evaluation> {
    await kernel.ready
    job.signal?.throwIfAborted()
    await this.#grid.fill(job.view)
    const grid = this.#grid
    const results = this.#resultsBuffer(kernel.plan.rows.length * GRID * GRID * 4)
    const length = GRID * GRID
    const bindings: Record<string, number | { buffer: GPUBuffer; length: number }> = {}
    for (const name of job.graph.inputs) {
      bindings[name] = name === 'x' ? { buffer: grid.x, length } : name === 'y' ? { buffer: grid.y, length } : job.params[name] ?? 0
    }

    const device = this.#engine.device
    const t0 = performance.now()
    const res = await kernel.runToBuffer(bindings, { into: results, ...(job.signal ? { signal: job.signal } : {}) })
    await device.queue.onSubmittedWorkDone()
    const ms = performance.now() - t0

    const output = job.graph.outputs[0]!
    const inputs = job.graph.inputs
    const row = (input?: string) => (input === undefined ? res.offset(output) : res.offset(output, input)) / 4
    this.#last = {
      rows: { value: row(), dx: inputs.includes('x') ? row('x') : null, dy: inputs.includes('y') ? row('y') : null },
      view: job.view,
    }
    const { maxError, where } = await this.#verify(job, this.#last.rows)
    return { ms, bindings: length, backend: this.label, maxError, where }
  }

  async render(shading: Shading): Promise<void> {
    if (!this.#last || !this.#results) return
    this.#renderer.draw(this.#results, this.#last.rows, GRID, this.#last.view, shading)
    await this.#engine.device.queue.onSubmittedWorkDone()
  }

  /** The drawn rows (read back at a 16 × 16 sub-lattice of the grid) vs the float64 reference there. */
  async #verify(job: Job, rows: FieldRows): Promise<{ maxError: number; where: string }> {
    const indices: number[] = []
    for (let b = 0; b < SAMPLE; b++) {
      for (let a = 0; a < SAMPLE; a++) {
        indices.push(Math.floor(((b + 0.5) * GRID) / SAMPLE) * GRID + Math.floor(((a + 0.5) * GRID) / SAMPLE))
      }
    }
    // The drawn rows by name: 'value', and the inputs x, y whose gradient rows exist.
    const drawn: [string, number][] = []
    for (const [name, start] of [['value', rows.value], ['x', rows.dx], ['y', rows.dy]] as const) if (start !== null) drawn.push([name, start])
    const got = await this.#gather(drawn.map(([, start]) => start), indices)
    const size = indices.length
    const reference = evaluateCpu(job.graph, sampleBindings(job, GRID, indices))
    const output = job.graph.outputs[0]!
    const actual = { values: {} as Record<string, Float32Array>, jacobian: { [output]: {} as Record<string, Float32Array> }, size, backend: this.label }
    const wanted = { values: {} as Record<string, Float64Array>, jacobian: { [output]: {} as Record<string, Float64Array> }, size, backend: reference.backend }
    drawn.forEach(([name], r) => {
      const row = got.subarray(r * size, (r + 1) * size)
      if (name === 'value') {
        actual.values[output] = row
        wanted.values[output] = reference.values[output]!
      } else {
        actual.jacobian[output]![name] = row
        wanted.jacobian[output]![name] = reference.jacobian[output]![name]!
      }
    })
    return compareResults(actual, wanted)
  }

  /** Elements `starts[r] + indices[k]` of the results buffer, row by row, read back. */
  async #gather(starts: readonly number[], indices: readonly number[]): Promise<Float32Array> {
    const device = this.#engine.device
    const bytes = starts.length * indices.length * 4
    device.pushErrorScope('validation')
    const staging = device.createBuffer({ label: 'demo sample', size: bytes, usage: MAP_READ | COPY_DST })
    const encoder = device.createCommandEncoder({ label: 'demo sample' })
    starts.forEach((start, r) => {
      indices.forEach((b, k) => encoder.copyBufferToBuffer(this.#results!, (start + b) * 4, staging, (r * indices.length + k) * 4, 4))
    })
    device.queue.submit([encoder.finish()])
    const error = await device.popErrorScope()
    try {
      if (error) throw new Error(`reading the sample back failed: ${error.message}`)
      await staging.mapAsync(GPUMapMode.READ)
      return new Float32Array(staging.getMappedRange().slice(0))
    } finally {
      staging.destroy()
    }
  }

  #kernel(job: Job): Kernel {
    const hit = this.#kernels.get(job.source)
    if (hit) {
      // Most recently used last, so the first key is the one to drop.
      this.#kernels.delete(job.source)
      this.#kernels.set(job.source, hit)
      return hit
    }
    const kernel = this.#engine.compile(job.graph, job.signal ? { signal: job.signal } : {})
    if (job.signal) this.#compiledFor.set(kernel, job.signal)
    this.#kernels.set(job.source, kernel)
    if (this.#kernels.size > KERNEL_CACHE) this.#kernels.delete(this.#kernels.keys().next().value!)
    return kernel
  }

  /** The results buffer, grown (never shrunk) to hold `bytes`. */
  #resultsBuffer(bytes: number): GPUBuffer {
    if (this.#results && this.#results.size >= bytes) return this.#results
    this.#results?.destroy()
    this.#last = undefined
    this.#results = this.#engine.device.createBuffer({ label: 'demo results', size: bytes, usage: STORAGE | COPY_SRC | COPY_DST })
    return this.#results
  }
}
