/**
 * compareResults: how far results (GPU, or any engine) are from a reference. In: two Results of
 * the same graph and batch. Out: the largest scaled error and where it occurs.
 *
 * Error of one number: |a - r| / (|r| + scale), scale = 1e-2 · (largest finite |r| in that row) +
 * 1e-6, i.e. relative where the number is typical for its row, absolute near a zero crossing (a
 * float32 sum of terms has errors proportional to the terms, not to the possibly tiny sum). NaN
 * must meet NaN and ±Inf the same infinity, or the error is Infinity. Parameter gradients (batch
 * sums) are compared the same way, the gradients of one output as one row.
 */
import type { Results } from './results.js'

export interface Comparison {
  /** Largest scaled error over every value and Jacobian entry. */
  readonly maxError: number
  /** Where that was, e.g. "jacobian.f.x[12]: got 1.5, reference 1.4999". */
  readonly where: string
  /** Entries compared. */
  readonly count: number
}

/** The scale of one reference row: 1e-2 · its largest finite |r| + 1e-6. */
export function rowScale(r: ArrayLike<number>): number {
  let peak = 0
  for (let i = 0; i < r.length; i++) if (Number.isFinite(r[i])) peak = Math.max(peak, Math.abs(r[i]!))
  return 1e-2 * peak + 1e-6
}

/** The error of one number against its reference, given its row's scale (see the header). */
export function scaledError(a: number, r: number, scale: number): number {
  if (Number.isFinite(a) && Number.isFinite(r)) return Math.abs(a - r) / (Math.abs(r) + scale)
  return Object.is(a, r) || (Number.isNaN(a) && Number.isNaN(r)) ? 0 : Infinity
}

/**
 * Compares results with a reference, row by row.
 *
 * @example
 * const c = compareResults(await engine.evaluate(g, b), evaluateCpu(g, b))
 * c.maxError < 1e-4
 */
export function compareResults(actual: Results<ArrayLike<number>>, reference: Results<ArrayLike<number>>): Comparison {
  let maxError = 0
  let where = 'nowhere'
  let count = 0
  const row = (a: ArrayLike<number> | undefined, r: ArrayLike<number>, what: string) => {
    if (!a || a.length !== r.length) {
      maxError = Infinity
      where = `${what}: ${a ? `length ${a.length}, reference ${r.length}` : 'missing'}`
      return
    }
    const scale = rowScale(r)
    for (let i = 0; i < r.length; i++) {
      const x = a[i]!
      const y = r[i]!
      const e = scaledError(x, y, scale)
      if (e > maxError) {
        maxError = e
        where = `${what}[${i}]: got ${x}, reference ${y}`
      }
    }
    count += r.length
  }
  for (const o of Object.keys(reference.values)) {
    row(actual.values[o], reference.values[o]!, `values.${o}`)
    for (const i of Object.keys(reference.jacobian[o]!)) row(actual.jacobian[o]?.[i], reference.jacobian[o]![i]!, `jacobian.${o}.${i}`)
    // Parameter gradients (batch sums): scaled like a row of this output's gradients.
    const sums = reference.gradients?.[o]
    if (sums) {
      const names = Object.keys(sums)
      row(names.map((p) => actual.gradients?.[o]?.[p] ?? NaN), names.map((p) => sums[p]!), `gradients.${o}(${names.join(', ')})`)
    }
  }
  return { maxError, where, count }
}
