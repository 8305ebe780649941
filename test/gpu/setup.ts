/**
 * Shared pieces of the GPU suite: one engine per test file on the real adapter (a missing adapter
 * FAILS in the test files, it never skips), and a comparison of GPU results against the
 * float32-faithful CPU reference with tolerances scaled by magnitude (compareResults).
 */
import { expect } from 'vitest'
import { compareResults, evaluateCpu, type Bindings, type Graph, type GpuResults } from '../../src/index.js'
export { rng } from '../core/helpers.js'

/** Asserts GPU results equal the f32-faithful reference within `tol` scaled error. */
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
