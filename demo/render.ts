/**
 * WebGPU renderer of a gradient field. In: wavegrad's results buffer, left on the GPU by
 * `kernel.runToBuffer` (read here as a read-only storage buffer, never read back to JS), the element
 * offsets of the first output's value and ∂/∂x, ∂/∂y rows, the grid side and the view.
 * Out: one frame on the canvas: a compute pass finds the robust colour range, a render pass draws
 * the heatmap with contours and, over it, the gradient arrows.
 *
 * The device is the engine's, so the results buffer is shared without copies. Pipeline creation
 * sits in a validation error scope and WGSL errors are reported with line:column.
 */
import { BUFFER_USAGE, SHADER_STAGE } from 'wavegrad'
import type { View } from './examples.js'
import {
  DRAW_WGSL,
  FLAG_CONTOURS,
  FLAG_HAS_DX,
  FLAG_HAS_DY,
  FLAG_LOG,
  FRAME_BYTES,
  STATS_BYTES,
  STATS_WGSL,
} from './field-wgsl.js'
import type { Shading } from './shading.js'

const { UNIFORM, STORAGE, COPY_DST } = BUFFER_USAGE
const { COMPUTE, VERTEX, FRAGMENT } = SHADER_STAGE

/** Arrows per side of the lattice. */
const ARROW_LATTICE = 24

/** Where the first output's rows start in the results buffer, in f32 elements (null: no such input). */
export interface FieldRows {
  readonly value: number
  readonly dx: number | null
  readonly dy: number | null
}

interface Bound {
  readonly results: GPUBuffer
  readonly stats: GPUBindGroup
  readonly draw: GPUBindGroup
}

/**
 * Draws frames from a results buffer on the engine's device.
 *
 * @example
 * const renderer = await FieldRenderer.create(engine.device, canvas)
 * renderer.draw(res.buffer, { value: res.offset('f') / 4, dx: res.offset('f', 'x') / 4, dy: res.offset('f', 'y') / 4 }, 1024, view, shading)
 */
export class FieldRenderer {
  readonly #device: GPUDevice
  readonly #context: GPUCanvasContext
  readonly #canvas: HTMLCanvasElement
  readonly #frame: GPUBuffer
  readonly #stats: GPUBuffer
  readonly #statsLayout: GPUBindGroupLayout
  readonly #drawLayout: GPUBindGroupLayout
  readonly #statsPipeline: GPUComputePipeline
  readonly #fieldPipeline: GPURenderPipeline
  readonly #arrowPipeline: GPURenderPipeline
  #bound: Bound | undefined

  private constructor(device: GPUDevice, canvas: HTMLCanvasElement, context: GPUCanvasContext, format: GPUTextureFormat) {
    this.#device = device
    this.#canvas = canvas
    this.#context = context
    this.#frame = device.createBuffer({ label: 'demo frame', size: FRAME_BYTES, usage: UNIFORM | COPY_DST })
    this.#stats = device.createBuffer({ label: 'demo stats', size: STATS_BYTES, usage: STORAGE })
    const entries = (statsType: GPUBufferBindingType, statsVisibility: number): GPUBindGroupLayoutEntry[] => [
      { binding: 0, visibility: COMPUTE | VERTEX | FRAGMENT, buffer: { type: 'read-only-storage' } },
      { binding: 1, visibility: statsVisibility, buffer: { type: statsType } },
      { binding: 2, visibility: COMPUTE | VERTEX | FRAGMENT, buffer: { type: 'uniform' } },
    ]
    this.#statsLayout = device.createBindGroupLayout({ entries: entries('storage', COMPUTE) })
    this.#drawLayout = device.createBindGroupLayout({ entries: entries('read-only-storage', VERTEX | FRAGMENT) })
    const statsModule = device.createShaderModule({ label: 'demo stats', code: STATS_WGSL })
    const drawModule = device.createShaderModule({ label: 'demo draw', code: DRAW_WGSL })
    this.#statsPipeline = device.createComputePipeline({
      layout: device.createPipelineLayout({ bindGroupLayouts: [this.#statsLayout] }),
      compute: { module: statsModule, entryPoint: 'stats_main' },
    })
    const layout = device.createPipelineLayout({ bindGroupLayouts: [this.#drawLayout] })
    this.#fieldPipeline = device.createRenderPipeline({
      layout,
      vertex: { module: drawModule, entryPoint: 'field_vs' },
      fragment: { module: drawModule, entryPoint: 'field_fs', targets: [{ format }] },
    })
    const over: GPUBlendComponent = { srcFactor: 'src-alpha', dstFactor: 'one-minus-src-alpha', operation: 'add' }
    this.#arrowPipeline = device.createRenderPipeline({
      layout,
      vertex: { module: drawModule, entryPoint: 'arrow_vs' },
      fragment: { module: drawModule, entryPoint: 'arrow_fs', targets: [{ format, blend: { color: over, alpha: over } }] },
    })
  }

  /** Builds the pipelines on the engine's device; throws with WGSL line:column on a shader error. */
  static async create(device: GPUDevice, canvas: HTMLCanvasElement): Promise<FieldRenderer> {
    const context = canvas.getContext('webgpu')
    if (!context) throw new Error('the canvas has no WebGPU context')
    const format = navigator.gpu.getPreferredCanvasFormat()
    context.configure({ device, format, alphaMode: 'opaque' })
    await checkWgsl(device, 'stats', STATS_WGSL)
    await checkWgsl(device, 'draw', DRAW_WGSL)
    device.pushErrorScope('validation')
    const renderer = new FieldRenderer(device, canvas, context, format)
    const error = await device.popErrorScope()
    if (error) throw new Error(`building the render pipelines failed: ${error.message}`)
    return renderer
  }

  /** Submits one frame: the stats compute pass, then heatmap, contours and arrows. */
  draw(results: GPUBuffer, rows: FieldRows, n: number, view: View, shading: Shading): void {
    const device = this.#device
    const flags =
      (shading.contours ? FLAG_CONTOURS : 0) | (shading.logScale ? FLAG_LOG : 0) | (rows.dx !== null ? FLAG_HAS_DX : 0) | (rows.dy !== null ? FLAG_HAS_DY : 0)
    const frame = new ArrayBuffer(FRAME_BYTES)
    new Uint32Array(frame, 0, 6).set([n, rows.value, rows.dx ?? 0, rows.dy ?? 0, flags, ARROW_LATTICE])
    new Float32Array(frame, 24, 3).set([view.x1 - view.x0, view.y1 - view.y0, 1 / this.#canvas.width])
    device.queue.writeBuffer(this.#frame, 0, frame)
    const bound = this.#bind(results)

    const encoder = device.createCommandEncoder({ label: 'demo frame' })
    const compute = encoder.beginComputePass()
    compute.setPipeline(this.#statsPipeline)
    compute.setBindGroup(0, bound.stats)
    compute.dispatchWorkgroups(1)
    compute.end()
    const pass = encoder.beginRenderPass({
      colorAttachments: [{ view: this.#context.getCurrentTexture().createView(), loadOp: 'clear', storeOp: 'store', clearValue: [0, 0, 0, 1] }],
    })
    pass.setBindGroup(0, bound.draw)
    pass.setPipeline(this.#fieldPipeline)
    pass.draw(3)
    if (shading.arrows) {
      pass.setPipeline(this.#arrowPipeline)
      pass.draw(9, 2 * ARROW_LATTICE * ARROW_LATTICE)
    }
    pass.end()
    device.queue.submit([encoder.finish()])
  }

  /** Bind groups over the results buffer, rebuilt only when the buffer changes. */
  #bind(results: GPUBuffer): Bound {
    if (this.#bound?.results === results) return this.#bound
    const device = this.#device
    const entries = [
      { binding: 0, resource: { buffer: results } },
      { binding: 1, resource: { buffer: this.#stats } },
      { binding: 2, resource: { buffer: this.#frame } },
    ]
    this.#bound = {
      results,
      stats: device.createBindGroup({ label: 'demo stats', layout: this.#statsLayout, entries }),
      draw: device.createBindGroup({ label: 'demo draw', layout: this.#drawLayout, entries }),
    }
    return this.#bound
  }
}

/** Compiles WGSL once to report errors with line:column (Dawn's pipeline errors often omit them). */
async function checkWgsl(device: GPUDevice, name: string, code: string): Promise<void> {
  const info = await device.createShaderModule({ label: `demo ${name} check`, code }).getCompilationInfo()
  const errors = info.messages.filter((m) => m.type === 'error')
  if (errors.length) {
    const lines = code.split('\n')
    const where = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}\n  ${lines[m.lineNum - 1] ?? ''}`)
    throw new Error(`the demo's ${name} shader does not compile:\n${where.join('\n')}`)
  }
}
