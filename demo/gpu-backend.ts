/**
 * The WebGPU backend. In: a job (program, parameters, view). Out: the first output and its
 * gradient over a 1024 × 1024 grid (2^20 bindings), evaluated by `kernel.runToBuffer` straight from
 * grid buffers on the GPU into a results buffer the renderer reads: nothing goes back to JS but a
 * 256-point sample, run again with a normal `kernel.run` and compared with the float64 reference.
 *
 * Parameters are broadcast numbers, so a slider move uploads nothing; the grid buffers are
 * rebuilt only when the view changes.
 */
import { BUFFER_USAGE, compareResults, createGpuEngine, evaluateCpu, type GpuEngine, type Kernel } from 'wavegrad'
import { gridAxes, sampleBindings, type Backend, type Evaluation, type Job } from './backend.js'
import type { View } from './examples.js'
import { FieldRenderer, type FieldRows } from './render.js'
import type { Shading } from './shading.js'

const { STORAGE, COPY_SRC, COPY_DST } = BUFFER_USAGE

/** Grid side: 2^20 bindings. */
const GRID = 1024
/** The verification sample is a SAMPLE × SAMPLE sub-lattice of the grid. */
const SAMPLE = 16
/** Compiled kernels kept, by source text (slider moves reuse them). */
const KERNEL_CACHE = 16

interface Grid {
  readonly view: View
  readonly x: GPUBuffer
  readonly y: GPUBuffer
}

/**
 * Starts the engine and the renderer; throws (DeviceError) where the browser has no WebGPU.
 * `lost` resolves, with the reason, if the device is lost later.
 *
 * @example
 * const backend = await createGpuBackend(canvas); await backend.evaluate(job); await backend.render(shading)
 */
export async function createGpuBackend(canvas: HTMLCanvasElement): Promise<GpuBackend> {
  const engine = await createGpuEngine()
  return new GpuBackend(engine, await FieldRenderer.create(engine.device, canvas))
}

class GpuBackend implements Backend {
  readonly size = GRID
  readonly lost: Promise<string>
  readonly #engine: GpuEngine
  readonly #renderer: FieldRenderer
  readonly #kernels = new Map<string, Kernel>()
  #grid: Grid | undefined
  #results: GPUBuffer | undefined
  #last: { readonly rows: FieldRows; readonly view: View } | undefined

  constructor(engine: GpuEngine, renderer: FieldRenderer) {
    this.#engine = engine
    this.#renderer = renderer
    this.lost = engine.device.lost.then((info) => info.message || info.reason || 'no reason given')
  }

  get label(): string {
    return this.#engine.description
  }

  async evaluate(job: Job): Promise<Evaluation> {
    const kernel = this.#kernel(job)
    await kernel.ready
    const grid = this.#gridFor(job.view)
    const results = this.#resultsBuffer(kernel.plan.rows.length * GRID * GRID * 4)
    const length = GRID * GRID
    const bindings: Record<string, number | { buffer: GPUBuffer; length: number }> = {}
    for (const name of job.graph.inputs) {
      bindings[name] = name === 'x' ? { buffer: grid.x, length } : name === 'y' ? { buffer: grid.y, length } : job.params[name] ?? 0
    }

    const device = this.#engine.device
    const t0 = performance.now()
    const res = await kernel.runToBuffer(bindings, { into: results })
    await device.queue.onSubmittedWorkDone()
    const ms = performance.now() - t0

    const output = job.graph.outputs[0]!
    const inputs = job.graph.inputs
    const row = (input?: string) => (input === undefined ? res.offset(output) : res.offset(output, input)) / 4
    this.#last = {
      rows: { value: row(), dx: inputs.includes('x') ? row('x') : null, dy: inputs.includes('y') ? row('y') : null },
      view: job.view,
    }
    const { maxError, where } = await this.#verify(kernel, job)
    return { ms, bindings: length, backend: this.label, maxError, where }
  }

  async render(shading: Shading): Promise<void> {
    if (!this.#last || !this.#results) return
    this.#renderer.draw(this.#results, this.#last.rows, GRID, this.#last.view, shading)
    await this.#engine.device.queue.onSubmittedWorkDone()
  }

  /** GPU (normal run, read back) vs float64 reference on a 16 × 16 sub-lattice of the grid. */
  async #verify(kernel: Kernel, job: Job): Promise<{ maxError: number; where: string }> {
    const indices: number[] = []
    for (let b = 0; b < SAMPLE; b++) {
      for (let a = 0; a < SAMPLE; a++) {
        indices.push(Math.floor(((b + 0.5) * GRID) / SAMPLE) * GRID + Math.floor(((a + 0.5) * GRID) / SAMPLE))
      }
    }
    const bindings = sampleBindings(job, GRID, indices)
    const gpu = await kernel.run(bindings)
    return compareResults(gpu, evaluateCpu(job.graph, bindings))
  }

  #kernel(job: Job): Kernel {
    const hit = this.#kernels.get(job.source)
    if (hit) {
      // Most recently used last, so the first key is the one to drop.
      this.#kernels.delete(job.source)
      this.#kernels.set(job.source, hit)
      return hit
    }
    const kernel = this.#engine.compile(job.graph)
    this.#kernels.set(job.source, kernel)
    if (this.#kernels.size > KERNEL_CACHE) this.#kernels.delete(this.#kernels.keys().next().value!)
    return kernel
  }

  #gridFor(view: View): Grid {
    if (this.#grid && sameView(this.#grid.view, view)) return this.#grid
    const device = this.#engine.device
    const { xs, ys } = gridAxes(view, GRID)
    const x = new Float32Array(GRID * GRID)
    const y = new Float32Array(GRID * GRID)
    for (let j = 0; j < GRID; j++) {
      x.set(xs, j * GRID)
      y.fill(ys[j]!, j * GRID, (j + 1) * GRID)
    }
    const buffer = (label: string, data: Float32Array<ArrayBuffer>) => {
      const b = device.createBuffer({ label, size: data.byteLength, usage: STORAGE | COPY_SRC | COPY_DST })
      device.queue.writeBuffer(b, 0, data)
      return b
    }
    this.#grid?.x.destroy()
    this.#grid?.y.destroy()
    this.#grid = { view, x: buffer('demo grid x', x), y: buffer('demo grid y', y) }
    return this.#grid
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

function sameView(a: View, b: View): boolean {
  return a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1
}
