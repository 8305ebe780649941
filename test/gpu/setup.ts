/**
 * Shared pieces of the GPU suite: one engine per test file on the real adapter (a missing adapter
 * FAILS in the test files, it never skips), and a comparison of GPU results against the
 * float32-faithful CPU reference with tolerances scaled by magnitude (compareResults).
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { compareResults, evaluateCpu, Graph, OPS, type Bindings, type GpuEngine, type GpuResults, type OpName, type OpSpec } from '../../src/index.js'
import { SMOOTH_COUNT, buildSmoothDag, rng } from '../core/helpers.js'
export { rng }

/** Asserts GPU results equal the f32-faithful reference within `tol` scaled error. */
/** Waits (at most 60 s) until an engine's background builds (tier 'auto') are done. */
export async function buildsDone(engine: GpuEngine): Promise<void> {
  for (let waited = 0; engine.stats().builds > 0 && waited < 60_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(engine.stats().builds).toBe(0)
}

export function expectMatchesReference(gpu: GpuResults, graph: Graph, bindings: Bindings, tol: number): number {
  const ref = evaluateCpu(graph, bindings, { precision: 'f32' })
  expect(Object.keys(gpu.values)).toEqual(Object.keys(ref.values))
  for (const o of Object.keys(ref.values)) expect(Object.keys(gpu.jacobian[o]!)).toEqual(Object.keys(ref.jacobian[o]!))
  const { maxError, where } = compareResults(gpu, ref)
  expect(maxError, `worst at ${where}`).toBeLessThanOrEqual(tol)
  return maxError
}

/** B random float32 values in [lo, hi]. */
export function randomArray(r: () => number, size: number, lo: number, hi: number): Float32Array<ArrayBuffer> {
  const a = new Float32Array(size)
  for (let i = 0; i < size; i++) a[i] = lo + (hi - lo) * r()
  return a
}

/**
 * One op on fresh inputs a0, a1, a2, sampled on its domain: `where`'s condition rounded to 0/1,
 * and every 4th pair of a binary op equal (ties matter for comparisons and min/max).
 */
export function opCase(name: OpName, size: number, seed: number): { graph: Graph; bindings: Record<string, Float32Array<ArrayBuffer>> } {
  const spec: OpSpec = OPS[name]
  const graph = new Graph()
  graph.output('f', graph.apply(name, spec.domain.map((_, i) => graph.input(`a${i}`))))
  const r = rng(seed)
  const bindings: Record<string, Float32Array<ArrayBuffer>> = {}
  spec.domain.forEach(([lo, hi], i) => (bindings[`a${i}`] = randomArray(r, size, lo, hi)))
  if (name === 'where') bindings.a0 = bindings.a0!.map((v) => Math.round(v))
  if (spec.arity === 2) for (let i = 0; i < size; i += 4) bindings.a1![i] = bindings.a0![i]!
  return { graph, bindings }
}

/** A random smooth DAG (1-4 inputs, up to 3 distinct outputs) with random bindings in [-2, 2]. */
export const randomDag = fc
  .record({
    inputs: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 40 }),
    outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    size: fc.integer({ min: 1, max: 700 }),
    seed: fc.nat(),
  })
  .map(({ inputs, steps, outputs, size, seed }) => {
    const graph = new Graph()
    const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
    const pool = buildSmoothDag(graph, names, steps)
    const used = new Set<number>()
    outputs.forEach((o, k) => {
      const e = pool[inputs + (o % (pool.length - inputs))]!.expr
      if (used.has(e.id)) return
      used.add(e.id)
      graph.output(`o${k}`, e)
    })
    const r = rng(seed)
    return { graph, bindings: Object.fromEntries(names.map((n) => [n, randomArray(r, size, -2, 2)])) }
  })
