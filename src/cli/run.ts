/**
 * Running a program for the CLI. In: a graph, a backend name ('gpu' | 'cpu' | 'auto'), bindings.
 * Out: an opened engine (its description, a run function, destroy), the whole batch's results run
 * chunk by chunk (per-binding rows assembled, parameter gradients summed over the chunks), and the
 * comparison with the float64 reference on a sample of the batch.
 */
import {
  compareResults,
  createCpuEngine,
  createEngine,
  createGpuEngine,
  DeviceError,
  evaluateCpu,
  type Bindings,
  type Graph,
  type GpuEngineOptions,
  type Results,
} from '../index.js'

/** A result row: float32 from the GPU and auto engines, float64 from the CPU engine. */
export type Row = Float32Array | Float64Array
export type RunResults = Results<Row> & { readonly tier?: string }

/** An engine ready to run one graph. */
export interface Runner {
  /** What runs it (the engine's description). */
  readonly description: string
  readonly compileMs: number
  run(bindings: Bindings): Promise<RunResults>
  destroy(): void
}

/** Bindings per engine call: large enough to keep the GPU's tiles pipelined, small enough for progress. */
export const GPU_CHUNK = 1 << 21
export const CPU_CHUNK = 1 << 16
const REFERENCE_CHUNK = 1 << 12

/**
 * Creates the backend's engine and compiles the graph (waiting for the GPU kernel to be built, so
 * that run times do not include compiling).
 *
 * @example
 * const r = await openRunner(graph, 'cpu', 'fused'); await r.run({ x: [1, 2] }); r.destroy()
 */
export async function openRunner(graph: Graph, backend: 'gpu' | 'cpu' | 'auto', tier: NonNullable<GpuEngineOptions['tier']>): Promise<Runner> {
  const started = performance.now()
  if (backend === 'cpu') {
    const kernel = createCpuEngine().compile(graph)
    return { description: kernel.description, compileMs: performance.now() - started, run: (b) => kernel.run(b), destroy: () => {} }
  }
  if (backend === 'auto') {
    const engine = await createEngine()
    const kernel = engine.compile(graph)
    const t = performance.now()
    await kernel.ready
    return { description: engine.description, compileMs: performance.now() - t, run: (b) => kernel.run(b), destroy: () => engine.destroy() }
  }
  let engine
  try {
    engine = await createGpuEngine({ tier })
  } catch (e) {
    if (e instanceof DeviceError) throw new DeviceError(`${e.message}\n(or evaluate on the CPU, in float64: --backend cpu)`, e.reason)
    throw e
  }
  try {
    const kernel = engine.compile(graph)
    const t = performance.now()
    if (tier === 'interpreter') await engine.interpreter()
    else if (tier === 'fused') await kernel.ready
    const gpu = engine
    return { description: engine.description, compileMs: performance.now() - t, run: (b) => kernel.run(b), destroy: () => gpu.destroy() }
  } catch (e) {
    engine.destroy()
    throw e
  }
}

/**
 * Runs the batch in chunks of `chunk` bindings and assembles full-length rows; parameter gradients
 * (batch sums) are added up over the chunks.
 */
export async function evaluateChunked(
  run: (b: Bindings) => Promise<RunResults>,
  bindings: Record<string, Row | number>,
  size: number,
  chunk: number,
  tick: (done: number) => void = () => {},
): Promise<RunResults & { readonly backends: readonly string[] }> {
  const backends = new Set<string>()
  if (size <= chunk) {
    const r = await run(bindings)
    tick(size)
    return { ...r, backends: [r.backend] }
  }
  let full: (RunResults & { gradients?: Record<string, Record<string, number>> }) | undefined
  for (let start = 0; start < size; start += chunk) {
    const end = Math.min(size, start + chunk)
    const part = await run(Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, typeof v === 'number' ? v : v.subarray(start, end)])))
    backends.add(part.backend)
    const grow = (a: Row) => new (a.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(size)
    if (!full) {
      const values = Object.fromEntries(Object.entries(part.values).map(([o, a]) => [o, grow(a)]))
      const jacobian = Object.fromEntries(Object.entries(part.jacobian).map(([o, row]) => [o, Object.fromEntries(Object.entries(row).map(([i, a]) => [i, grow(a)]))]))
      const gradients = part.gradients && Object.fromEntries(Object.entries(part.gradients).map(([o, g]) => [o, Object.fromEntries(Object.keys(g).map((p) => [p, 0]))]))
      full = { ...part, values, jacobian, size, ...(gradients ? { gradients } : {}) }
    }
    for (const [o, a] of Object.entries(part.values)) full.values[o]!.set(a, start)
    for (const [o, row] of Object.entries(part.jacobian)) for (const [i, a] of Object.entries(row)) full.jacobian[o]![i]!.set(a, start)
    for (const [o, g] of Object.entries(part.gradients ?? {})) for (const [p, v] of Object.entries(g)) full.gradients![o]![p]! += v
    tick(end)
  }
  return { ...full!, backend: [...backends].join(' + '), backends: [...backends] }
}

/**
 * compareResults against evaluateCpu (float64) on n bindings evenly spread over the batch.
 * Parameter gradients are compared only when every binding is checked (a sample's sums are not the
 * batch's).
 */
export function checkAgainstReference(graph: Graph, bindings: Record<string, Row | number>, results: Results<Row>, size: number, n: number, tick: (done: number) => void = () => {}) {
  const at = (i: number) => (n === size ? i : Math.floor((i * size) / n))
  const pick = (a: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => a[at(i)]!)
  const sample = Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, typeof v === 'number' ? v : n === size ? v : pick(v)]))
  // The reference runs in chunks so that the progress bar moves; rows are assembled to full length
  // so that compareResults scales each row by its peak over all checked bindings.
  const ref: Results<Float64Array> & { gradients: Record<string, Record<string, number>> } = { values: {}, jacobian: {}, gradients: {}, size: n, backend: 'reference' }
  const rowInputs = graph.inputs.filter((i) => !graph.isParam(i))
  for (const o of graph.outputs) {
    ref.values[o] = new Float64Array(n)
    ref.jacobian[o] = Object.fromEntries(rowInputs.map((i) => [i, new Float64Array(n)]))
    ref.gradients[o] = Object.fromEntries(graph.params.map((p) => [p, 0]))
  }
  for (let start = 0; start < n; start += REFERENCE_CHUNK) {
    const end = Math.min(n, start + REFERENCE_CHUNK)
    const part = evaluateCpu(graph, Object.fromEntries(Object.entries(sample).map(([k, v]) => [k, typeof v === 'number' ? v : v.subarray(start, end)])))
    for (const o of graph.outputs) {
      ref.values[o]!.set(part.values[o]!, start)
      for (const i of rowInputs) ref.jacobian[o]![i]!.set(part.jacobian[o]![i]!, start)
      for (const p of graph.params) ref.gradients[o]![p]! += part.gradients?.[o]?.[p] ?? NaN
    }
    tick(end)
  }
  const whole = n === size && graph.params.length > 0
  const reference: Results<Float64Array> = whole ? ref : { values: ref.values, jacobian: ref.jacobian, size: n, backend: ref.backend }
  const actual: Results<ArrayLike<number>> =
    n === size
      ? results
      : {
          values: Object.fromEntries(Object.entries(results.values).map(([o, a]) => [o, pick(a)])),
          jacobian: Object.fromEntries(Object.entries(results.jacobian).map(([o, row]) => [o, Object.fromEntries(Object.entries(row).map(([i, a]) => [i, pick(a)]))])),
          size: n,
          backend: results.backend,
        }
  return compareResults(actual, reference)
}
