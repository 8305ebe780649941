/**
 * Shared pieces of the GPU suite: one engine per test file on the real adapter (a missing adapter
 * FAILS here, it never skips), and a comparison of GPU results against the float32-faithful CPU
 * reference with tolerances scaled by magnitude.
 */
import { expect } from 'vitest'
import { evaluateCpu, type Bindings, type Graph, type GpuResults, type Results } from '../../src/index.js'
export { rng } from '../core/helpers.js'

/**
 * Largest scaled error between GPU and reference over all rows: |gpu - ref| / (|ref| + scale),
 * where scale = 1e-2 · (largest |ref| in the row) + 1e-6 guards rows that pass through zero.
 * NaN must match NaN (and ±Inf the same infinity).
 */
export function maxScaledError(gpu: Results<Float32Array>, ref: Results<Float64Array>): { error: number; where: string } {
  let worst = { error: 0, where: 'none' }
  const check = (g: Float32Array, r: Float64Array, what: string) => {
    expect(g.length, what).toBe(r.length)
    let peak = 0
    for (const v of r) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v))
    const scale = 1e-2 * peak + 1e-6
    for (let i = 0; i < r.length; i++) {
      const a = g[i]!
      const b = r[i]!
      let e: number
      if (!Number.isFinite(b) || !Number.isFinite(a)) e = Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) ? 0 : Infinity
      else e = Math.abs(a - b) / (Math.abs(b) + scale)
      if (e > worst.error) worst = { error: e, where: `${what}[${i}]: gpu ${a}, reference ${b}` }
    }
  }
  for (const o of Object.keys(ref.values)) {
    check(gpu.values[o]!, ref.values[o]!, `values.${o}`)
    for (const i of Object.keys(ref.jacobian[o]!)) check(gpu.jacobian[o]![i]!, ref.jacobian[o]![i]!, `jacobian.${o}.${i}`)
  }
  return worst
}

/** Asserts GPU results equal the f32-faithful reference within `tol` scaled error. */
export function expectMatchesReference(gpu: GpuResults, graph: Graph, bindings: Bindings, tol: number): number {
  const ref = evaluateCpu(graph, bindings, { precision: 'f32' })
  expect(Object.keys(gpu.values)).toEqual(Object.keys(ref.values))
  for (const o of Object.keys(ref.values)) expect(Object.keys(gpu.jacobian[o]!)).toEqual(Object.keys(ref.jacobian[o]!))
  const { error, where } = maxScaledError(gpu, ref)
  expect(error, `worst at ${where}`).toBeLessThanOrEqual(tol)
  return error
}

/** B random float32 values in [lo, hi]. */
export function randomArray(r: () => number, size: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(size)
  for (let i = 0; i < size; i++) a[i] = lo + (hi - lo) * r()
  return a
}
