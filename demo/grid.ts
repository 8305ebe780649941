/**
 * The grid's x and y input buffers on the GPU. In: a view. Out: two n² f32 storage buffers with
 * x[b] = xs[b mod n], y[b] = ys[⌊b / n⌋] (backend.ts gridAxes), made once per device and refilled
 * in place for each new view: 2n axis values go up by writeBuffer and a compute pass spreads them
 * over the n² bindings, so a pan or zoom uploads 8 KiB instead of 8 MiB.
 *
 * The axes come from gridAxes, so the buffers hold exactly the numbers the CPU fallback and the
 * verification sample use.
 */
import { BUFFER_USAGE, SHADER_STAGE } from 'wavegrad'
import { gridAxes } from './backend.js'
import type { View } from './examples.js'

const { STORAGE, COPY_SRC, COPY_DST } = BUFFER_USAGE
const WORKGROUP = 256

function fillWgsl(n: number): string {
  return /* wgsl */ `
const n = ${n}u;
@group(0) @binding(0) var<storage, read> axes: array<f32>;        // xs (n), then ys (n)
@group(0) @binding(1) var<storage, read_write> grid_x: array<f32>;
@group(0) @binding(2) var<storage, read_write> grid_y: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn fill_main(@builtin(global_invocation_id) id: vec3u) {
  let b = id.x;
  if (b >= n * n) { return; }
  grid_x[b] = axes[b % n];
  grid_y[b] = axes[n + b / n];
}
`
}

/**
 * x and y of an n × n grid on the GPU.
 *
 * @example
 * const grid = await GridBuffers.create(device, 1024); await grid.fill(view); // bind grid.x, grid.y
 */
export class GridBuffers {
  readonly x: GPUBuffer
  readonly y: GPUBuffer
  readonly #device: GPUDevice
  readonly #n: number
  readonly #axes: GPUBuffer
  readonly #pipeline: GPUComputePipeline
  readonly #bindGroup: GPUBindGroup
  #view: View | undefined

  private constructor(device: GPUDevice, n: number, pipeline: GPUComputePipeline) {
    this.#device = device
    this.#n = n
    this.#pipeline = pipeline
    const buffer = (label: string, size: number) => device.createBuffer({ label, size, usage: STORAGE | COPY_SRC | COPY_DST })
    this.#axes = buffer('demo grid axes', 2 * n * 4)
    this.x = buffer('demo grid x', n * n * 4)
    this.y = buffer('demo grid y', n * n * 4)
    this.#bindGroup = device.createBindGroup({
      label: 'demo grid fill',
      layout: pipeline.getBindGroupLayout(0),
      entries: [this.#axes, this.x, this.y].map((b, binding) => ({ binding, resource: { buffer: b } })),
    })
  }

  /** Builds the fill pipeline and the buffers; throws on a validation error. */
  static async create(device: GPUDevice, n: number): Promise<GridBuffers> {
    const groups = Math.ceil((n * n) / WORKGROUP)
    if (groups > device.limits.maxComputeWorkgroupsPerDimension) throw new Error(`a ${n} × ${n} grid needs ${groups} workgroups in one dimension; this device allows ${device.limits.maxComputeWorkgroupsPerDimension}`)
    device.pushErrorScope('validation')
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: SHADER_STAGE.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: SHADER_STAGE.COMPUTE, buffer: { type: 'storage' } },
        { binding: 2, visibility: SHADER_STAGE.COMPUTE, buffer: { type: 'storage' } },
      ],
    })
    const pipeline = device.createComputePipeline({
      label: 'demo grid fill',
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module: device.createShaderModule({ label: 'demo grid fill', code: fillWgsl(n) }), entryPoint: 'fill_main' },
    })
    const grid = new GridBuffers(device, n, pipeline)
    const error = await device.popErrorScope()
    if (error) throw new Error(`building the grid fill pipeline failed: ${error.message}`)
    return grid
  }

  /**
   * Refills x and y for `view` (nothing to do if it is the current one). Queue order puts the fill
   * before any later submission that reads the buffers, so callers need not wait for it.
   */
  async fill(view: View): Promise<void> {
    if (this.#view && sameView(this.#view, view)) return
    const device = this.#device
    const n = this.#n
    const { xs, ys } = gridAxes(view, n)
    const axes = new Float32Array(2 * n)
    axes.set(xs)
    axes.set(ys, n)
    device.pushErrorScope('validation')
    device.queue.writeBuffer(this.#axes, 0, axes)
    const encoder = device.createCommandEncoder({ label: 'demo grid fill' })
    const pass = encoder.beginComputePass()
    pass.setPipeline(this.#pipeline)
    pass.setBindGroup(0, this.#bindGroup)
    pass.dispatchWorkgroups(Math.ceil((n * n) / WORKGROUP))
    pass.end()
    device.queue.submit([encoder.finish()])
    this.#view = undefined
    const error = await device.popErrorScope()
    if (error) throw new Error(`filling the grid failed: ${error.message}`)
    this.#view = view
  }

  destroy(): void {
    for (const b of [this.#axes, this.x, this.y]) b.destroy()
  }
}

function sameView(a: View, b: View): boolean {
  return a.x0 === b.x0 && a.x1 === b.x1 && a.y0 === b.y0 && a.y1 === b.y1
}
