/**
 * The wavefront-parallel prototype on a GPUDevice. In: a device (the engine's), then a graph's
 * Schedule (schedule.ts) and input arrays. Out: Results (values and Jacobians as Float32Array),
 * read back. One pipeline per device (shader.ts), built once; per (graph, B) only tables and
 * buffers. Every GPU call sits in validation and out-of-memory error scopes that are checked, and
 * uncaptured errors fail the run: nothing is silent.
 */
import { BUFFER_USAGE, SHADER_STAGE } from '../../src/gpu/buffers.js'
import type { Results } from '../../src/reference.js'
import type { Graph } from '../../src/graph.js'
import type { Schedule } from './schedule.js'
import { emitWavefrontWgsl, WINDOW_BYTES } from './shader.js'

const { MAP_READ, COPY_SRC, COPY_DST, UNIFORM, STORAGE } = BUFFER_USAGE
const { COMPUTE } = SHADER_STAGE

export interface Prepared {
  readonly graph: Graph
  readonly schedule: Schedule
  readonly buffers: GPUBuffer[]
  readonly vals: GPUBuffer
  readonly adj: GPUBuffer
  readonly staging: GPUBuffer
  readonly bindGroup: GPUBindGroup
}

export class WavefrontRunner {
  readonly #uncaptured: string[] = []

  private constructor(
    readonly device: GPUDevice,
    readonly pipeline: GPUComputePipeline,
    readonly layout: GPUBindGroupLayout,
    readonly wgsl: string,
  ) {
    device.addEventListener('uncapturederror', (e) => this.#uncaptured.push((e as GPUUncapturedErrorEvent).error.message))
  }

  /** Builds the one pipeline and warms it up with a dispatch (lavapipe compiles at first dispatch). */
  static async create(device: GPUDevice, divergent = false): Promise<WavefrontRunner> {
    const wgsl = emitWavefrontWgsl(divergent)
    const layout = await guard(device, 'layout', () =>
      device.createBindGroupLayout({
        entries: [
          { binding: 0, visibility: COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
          { binding: 1, visibility: COMPUTE, buffer: { type: 'read-only-storage' } },
          { binding: 2, visibility: COMPUTE, buffer: { type: 'read-only-storage' } },
          { binding: 3, visibility: COMPUTE, buffer: { type: 'storage' } },
          { binding: 4, visibility: COMPUTE, buffer: { type: 'storage' } },
          { binding: 5, visibility: COMPUTE, buffer: { type: 'storage' } },
        ],
      }),
    )
    const module = await guard(device, 'shader module', () => device.createShaderModule({ code: wgsl }))
    const info = await module.getCompilationInfo()
    const errors = info.messages.filter((m) => m.type === 'error')
    if (errors.length) throw new Error(`WGSL errors: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`)
    const pipeline = await device.createComputePipelineAsync({
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    })
    const runner = new WavefrontRunner(device, pipeline, layout, wgsl)
    // Warm-up: a zero-node window (e.z = 0 never stores), so lavapipe compiles the shader now.
    const win = device.createBuffer({ size: WINDOW_BYTES, usage: UNIFORM | COPY_DST })
    device.queue.writeBuffer(win, 0, new Uint32Array([1, 0, 1, 0, 0, 0, 0, 0]))
    const small = [0, 1, 2, 3, 4].map(() => device.createBuffer({ size: 64, usage: STORAGE }))
    await guard(device, 'warm-up', () => {
      const group = runner.#group(win, small[0]!, small[1]!, small[2]!, small[3]!, small[4]!)
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, group, [0])
      pass.dispatchWorkgroups(1)
      pass.end()
      device.queue.submit([enc.finish()])
    })
    await device.queue.onSubmittedWorkDone()
    for (const b of [win, ...small]) b.destroy()
    runner.#throwIfBroken()
    return runner
  }

  /** Buffers and tables for one (graph, B): the "compile" of this tier (no shader is built). */
  async prepare(graph: Graph, schedule: Schedule): Promise<Prepared> {
    const device = this.device
    const { B, N, P } = schedule
    const K = graph.outputs.length
    const rows = K * (1 + graph.inputs.length)
    const make = (size: number, usage: number, data?: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>) => {
      const b = device.createBuffer({ size: Math.max(16, Math.ceil(size / 4) * 4), usage })
      if (data) device.queue.writeBuffer(b, 0, data)
      return b
    }
    return guard(device, 'prepare', () => {
      const win = make(schedule.windows.byteLength, UNIFORM | COPY_DST, schedule.windows)
      const recs = make(schedule.recs.byteLength, STORAGE | COPY_DST, schedule.recs)
      const edges = make(schedule.edges.byteLength, STORAGE | COPY_DST, schedule.edges)
      const vals = make(N * B * 4, STORAGE | COPY_DST | COPY_SRC)
      const parts = make(P * B * 4, STORAGE)
      const adj = make(K * N * B * 4, STORAGE | COPY_SRC)
      const staging = make(rows * B * 4, MAP_READ | COPY_DST)
      const fill = new Float32Array(B)
      for (const { row, value } of schedule.constants) {
        fill.fill(value)
        device.queue.writeBuffer(vals, row * B * 4, fill)
      }
      const bindGroup = this.#group(win, recs, edges, vals, parts, adj)
      return { graph, schedule, buffers: [win, recs, edges, vals, parts, adj, staging], vals, adj, staging, bindGroup }
    })
  }

  /** One evaluation: upload inputs, forward and reverse dispatches, copy rows, read back. */
  async run(p: Prepared, inputs: readonly Float32Array[]): Promise<Results<Float32Array>> {
    const device = this.device
    const { graph, schedule } = p
    const { B, N } = schedule
    const K = graph.outputs.length
    const nIn = graph.inputs.length
    await guard(device, 'run', () => {
      inputs.forEach((x, i) => device.queue.writeBuffer(p.vals, schedule.inputRows[i]! * B * 4, x.buffer, x.byteOffset, B * 4))
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(this.pipeline)
      for (const d of [...schedule.forward, ...schedule.reverse]) {
        pass.setBindGroup(0, p.bindGroup, [d.offset])
        pass.dispatchWorkgroups(d.x, d.y, d.z)
      }
      pass.end()
      let r = 0
      for (let k = 0; k < K; k++) {
        enc.copyBufferToBuffer(p.vals, schedule.outputRows[k]! * B * 4, p.staging, r++ * B * 4, B * 4)
        for (let i = 0; i < nIn; i++) enc.copyBufferToBuffer(p.adj, (k * N + schedule.inputRows[i]!) * B * 4, p.staging, r++ * B * 4, B * 4)
      }
      device.queue.submit([enc.finish()])
    })
    const bytes = K * (1 + nIn) * B * 4
    await p.staging.mapAsync(MAP_READ, 0, bytes)
    const data = new Float32Array(p.staging.getMappedRange(0, bytes).slice(0))
    p.staging.unmap()
    this.#throwIfBroken()
    const values: Record<string, Float32Array> = {}
    const jacobian: Record<string, Record<string, Float32Array>> = {}
    let r = 0
    graph.outputs.forEach((o) => {
      values[o] = data.subarray(r * B, ++r * B)
      jacobian[o] = {}
      for (const i of graph.inputs) jacobian[o]![i] = data.subarray(r * B, ++r * B)
    })
    return { values, jacobian, size: B, backend: 'wavefront-parallel prototype' }
  }

  release(p: Prepared): void {
    for (const b of p.buffers) b.destroy()
  }

  #group(win: GPUBuffer, recs: GPUBuffer, edges: GPUBuffer, vals: GPUBuffer, parts: GPUBuffer, adj: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.layout,
      entries: [
        { binding: 0, resource: { buffer: win, size: WINDOW_BYTES } },
        ...[recs, edges, vals, parts, adj].map((buffer, i) => ({ binding: i + 1, resource: { buffer } })),
      ],
    })
  }

  #throwIfBroken(): void {
    if (this.#uncaptured.length) throw new Error(`uncaptured GPU error: ${this.#uncaptured.splice(0).join('; ')}`)
  }
}

/** Runs f inside validation and out-of-memory scopes; rejects if either caught an error. */
async function guard<T>(device: GPUDevice, what: string, f: () => T): Promise<T> {
  device.pushErrorScope('validation')
  device.pushErrorScope('out-of-memory')
  let value: T
  try {
    value = f()
  } finally {
    const oom = device.popErrorScope()
    const invalid = device.popErrorScope()
    const [o, v] = await Promise.all([oom, invalid])
    if (o) throw new Error(`${what}: out of GPU memory: ${o.message}`)
    if (v) throw new Error(`${what}: ${v.message}`)
  }
  return value
}
