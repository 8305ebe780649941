/**
 * exportKernel: Graph -> a standalone kernel. In: a Graph. Out: the fused WGSL kernel of its program
 * (the one the GPU engine runs, emitWgsl of planKernels), its row layout (plan.ts), and `loader`, the source of
 * a small ES module with no import of wavegrad that builds the pipeline on any GPUDevice and runs
 * it on Float32Array bindings, returning values and Jacobians.
 *
 * The loader's contract (the bind group layout of gpu/buffers.ts):
 *   0 inputs  read-only storage  input k of binding b at inputs[k * n + b * steps[k]]
 *   1 results storage            row r of binding b at results[r * n + b]
 *   2 params  uniform            { n, stride = n, row = threads per grid row, pad = 0 }
 *   3 steps   read-only storage  1 for an array input, 0 for a number broadcast to every binding
 *
 * Invariants: one run is one dispatch over one buffer set (no tiling), as a 2-D grid where the
 * workgroups exceed maxComputeWorkgroupsPerDimension (plan.ts dispatchGrid); the largest batch is
 * therefore set by the device's limits (`kernel.maxBindings`: buffer sizes and workgroups per
 * dimension squared). The WGSL is emitWgsl's whole-program kernel: byte for byte what an engine on
 * a software adapter runs for a graph it does not split into segments (plan.ts; a GPU engine moves
 * more than 16 inputs or rows with direct accesses instead of loops); a larger graph is still one
 * kernel here.
 */
import { emitWgsl } from './codegen/wgsl.js'
import type { Graph } from './graph.js'
import { planKernels, type Row } from './plan.js'
import { programOf } from './program.js'

export interface ExportOptions {
  /** Named in the loader's header comment and its GPU object labels (default 'wavegrad kernel'). */
  readonly name?: string
}

export interface ExportedKernel {
  /** The fused compute shader (entry point `main`). */
  readonly wgsl: string
  /** ES module source: `createKernel(device)` -> `{ run(bindings), maxBindings, rows, ... }`. */
  readonly loader: string
  /** Result rows in buffer order: per output its value, then ∂output/∂input per input. */
  readonly rows: readonly Row[]
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly workgroupSize: number
}

/**
 * The graph's fused kernel and a self-contained loader for it, for pages that should not ship
 * wavegrad itself.
 *
 * @example
 * const k = exportKernel(parse('f = (1-x)^2 + 100*(y-x^2)^2'), { name: 'rosenbrock' })
 * writeFileSync('rosenbrock.mjs', k.loader)
 * // in a page that imports createKernel from './rosenbrock.mjs':
 * //   const r = await (await createKernel(device)).run({ x, y })   // r.values.f, r.jacobian.f.x
 */
export function exportKernel(graph: Graph, options: ExportOptions = {}): ExportedKernel {
  const plan = planKernels(programOf(graph))
  const wgsl = emitWgsl(plan)
  const name = options.name ?? 'wavegrad kernel'
  const rows = plan.rows.map((r) => ({ ...r }))
  return { wgsl, loader: loaderSource(name, wgsl, plan.inputs, plan.outputs, rows, plan.workgroupSize), rows, inputs: plan.inputs, outputs: plan.outputs, workgroupSize: plan.workgroupSize }
}

/** The loader module's text: constants describing the kernel, then createKernel. */
function loaderSource(name: string, wgsl: string, inputs: readonly string[], outputs: readonly string[], rows: readonly Row[], workgroupSize: number): string {
  const literal = wgsl.replace(/[\\`]/g, '\\$&').replace(/\$\{/g, '\\${')
  const comment = name.replace(/\*\//g, '* /').replace(/\n/g, ' ')
  return `/* ${comment}: exported by wavegrad's exportKernel. Standalone: imports nothing.
 * Inputs: ${inputs.join(', ') || 'none'}. Outputs: ${outputs.join(', ')}.
 *
 *   const kernel = await createKernel(device)          // any GPUDevice (browser or Dawn)
 *   const r = await kernel.run({ ${inputs.map((i) => `${i}: Float32Array`).join(', ')} })  // or a number for every binding
 *   r.values.<output>, r.jacobian.<output>.<input>     // Float32Array(B) each; r.rows: in 'rows' order
 *
 * One dispatch per run, no tiling: at most kernel.maxBindings bindings (set by the device's buffer
 * and workgroup limits). Buffer layout: input k of binding b at inputs[k*B + b*steps[k]]; row r of
 * binding b at results[r*B + b].
 */
export const name = ${JSON.stringify(name)}
export const inputs = ${JSON.stringify(inputs)}
export const outputs = ${JSON.stringify(outputs)}
/** Result rows: per output its value, then d(output)/d(input) for each input. */
export const rows = ${JSON.stringify(rows)}
export const workgroupSize = ${workgroupSize}
export const wgsl = \`${literal}\`

// WebGPU enum values (Node's Dawn has no GPUBufferUsage global).
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, UNIFORM = 0x40, STORAGE = 0x80, COMPUTE = 0x4

/** Runs f's synchronous GPU calls in validation and out-of-memory error scopes; rejects on an error. */
async function scoped(device, what, f) {
  device.pushErrorScope('validation')
  device.pushErrorScope('out-of-memory')
  let value, thrown
  try { value = f() } catch (e) { thrown = e }
  const errors = [await device.popErrorScope(), await device.popErrorScope()].filter(Boolean)
  if (thrown) throw thrown
  if (errors.length) throw new Error(\`\${name}: \${what}: \${errors.map((e) => e.message).join('; ')}\`)
  return value
}

/** Builds the pipeline on \`device\`; resolves to { run, maxBindings, inputs, outputs, rows }. */
export async function createKernel(device) {
  const module = await scoped(device, 'shader module', () => device.createShaderModule({ label: name, code: wgsl }))
  const info = await module.getCompilationInfo()
  const errors = info.messages.filter((m) => m.type === 'error')
  if (errors.length) throw new Error(\`\${name}: WGSL errors: \${errors.map((m) => \`\${m.lineNum}:\${m.linePos} \${m.message}\`).join('; ')}\`)
  const entry = (binding, type) => ({ binding, visibility: COMPUTE, buffer: { type } })
  const layout = await scoped(device, 'bind group layout', () =>
    device.createBindGroupLayout({ entries: [entry(0, 'read-only-storage'), entry(1, 'storage'), entry(2, 'uniform'), entry(3, 'read-only-storage')] }))
  const pipeline = await device.createComputePipelineAsync({
    label: name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main' },
  })
  const limits = device.limits
  const perDim = limits.maxComputeWorkgroupsPerDimension
  const words = Math.max(rows.length, inputs.length, 1)
  const maxBindings = Math.min(Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / (4 * words)), perDim * perDim * workgroupSize)

  /** Values and Jacobians for every binding: { values, jacobian, rows, size }. */
  async function run(bindings) {
    for (const key of Object.keys(bindings)) if (!inputs.includes(key)) throw new TypeError(\`\${name}: unknown input '\${key}' (inputs: \${inputs.join(', ')})\`)
    let n = -1
    for (const input of inputs) {
      const v = bindings[input]
      if (typeof v === 'number') continue
      if (v === undefined) throw new TypeError(\`\${name}: missing binding for '\${input}'\`)
      if (!(v instanceof Float32Array)) throw new TypeError(\`\${name}: binding '\${input}' must be a Float32Array or a number\`)
      if (n >= 0 && v.length !== n) throw new RangeError(\`\${name}: bindings have unequal lengths (\${n} and '\${input}' \${v.length})\`)
      n = v.length
    }
    if (n < 0) n = 1
    if (n > maxBindings) throw new RangeError(\`\${name}: \${n} bindings; one dispatch on this device takes at most \${maxBindings}\`)
    const data = rows.map(() => new Float32Array(n))
    if (n > 0) await dispatch(bindings, n, data)
    const values = {}, jacobian = {}
    rows.forEach((row, r) => {
      if (row.kind === 'value') { values[row.output] = data[r]; jacobian[row.output] = {} }
      else jacobian[row.output][row.input] = data[r]
    })
    return { values, jacobian, rows: data, size: n }
  }

  async function dispatch(bindings, n, data) {
    // A 2-D grid: x workgroups per row (at most perDim), y rows; the shader's b = gid.x + gid.y * row.
    const groups = Math.ceil(n / workgroupSize)
    const x = Math.min(groups, perDim), y = Math.ceil(groups / x)
    const bytes = rows.length * n * 4
    const buffers = []
    const buffer = (size, usage) => { const b = device.createBuffer({ label: name, size: Math.max(16, size), usage }); buffers.push(b); return b }
    try {
      const staging = await scoped(device, 'run', () => {
        const input = buffer(inputs.length * n * 4, STORAGE | COPY_DST)
        const results = buffer(bytes, STORAGE | COPY_SRC)
        const params = buffer(16, UNIFORM | COPY_DST)
        const steps = buffer(inputs.length * 4, STORAGE | COPY_DST)
        const staging = buffer(bytes, MAP_READ | COPY_DST)
        inputs.forEach((k, i) => {
          const v = bindings[k]
          device.queue.writeBuffer(input, i * n * 4, typeof v === 'number' ? new Float32Array([v]) : v)
        })
        if (inputs.length) device.queue.writeBuffer(steps, 0, new Uint32Array(inputs.map((k) => (typeof bindings[k] === 'number' ? 0 : 1))))
        device.queue.writeBuffer(params, 0, new Uint32Array([n, n, x * workgroupSize, 0]))
        const group = device.createBindGroup({ layout, entries: [input, results, params, steps].map((b, binding) => ({ binding, resource: { buffer: b } })) })
        const enc = device.createCommandEncoder()
        const pass = enc.beginComputePass()
        pass.setPipeline(pipeline)
        pass.setBindGroup(0, group)
        pass.dispatchWorkgroups(x, y)
        pass.end()
        enc.copyBufferToBuffer(results, 0, staging, 0, bytes)
        device.queue.submit([enc.finish()])
        return staging
      })
      await staging.mapAsync(MAP_READ, 0, bytes)
      const out = new Float32Array(staging.getMappedRange(0, bytes))
      data.forEach((row, r) => row.set(out.subarray(r * n, (r + 1) * n)))
      staging.unmap()
    } finally {
      for (const b of buffers) b.destroy()
    }
  }

  return { run, maxBindings, inputs, outputs, rows, workgroupSize }
}
`
}
