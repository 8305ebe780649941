/**
 * Parameters: batch-summed gradients. In: per-binding results of a graph with parameters
 * (Graph.param), and optional per-binding weights. Out: the same results with each parameter's
 * Jacobian rows replaced by `gradients[output][param]` = Σ_b w_b · ∂output/∂param (b), summed in
 * float64 in binding order (deterministic).
 *
 * A weight of 0 drops its binding even where the Jacobian is NaN or infinite (the engines' rule: a
 * zero adjoint contributes 0). The GPU engine sums in a fixed order on the GPU (see
 * gpu/reduce.ts); both return this shape.
 */
import { BindingError } from './errors.js'
import { describe, type Graph } from './graph.js'
import type { Results } from './reference.js'

/** Options every engine's evaluate takes for graphs with parameters. */
export interface SumOptions {
  /** One weight per binding (e.g. 1/B for a mean loss), applied to parameter gradients only. */
  readonly weights?: ArrayLike<number>
}

/**
 * Checks `weights` against the graph and the batch size, before any work; throws BindingError
 * naming the problem. Weights need parameters to weigh, or (GPU `sumsOnly`) value totals.
 */
export function checkWeights(graph: Graph, weights: unknown, size: number, totals = false): ArrayLike<number> | undefined {
  if (weights === undefined) return undefined
  if (!graph.params.length && !totals) {
    throw new BindingError('weights apply to parameter gradients (and sumsOnly totals), and this graph has no parameters (declare them with graph.param)')
  }
  const a = weights as ArrayLike<unknown> | null
  if (typeof a !== 'object' || a === null || typeof a.length !== 'number') throw new BindingError(`weights must be an array of numbers, one per binding, got ${describe(weights)}`)
  if (a.length !== size) throw new BindingError(`weights has ${a.length} elements; the batch has ${size} bindings`)
  if (!ArrayBuffer.isView(a)) {
    for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number') throw new BindingError(`weights[${i}] is ${describe(a[i])}, not a number`)
  }
  return a as ArrayLike<number>
}

/** Σ_b w_b · row[b] in float64, binding order; a zero weight contributes 0 whatever the row holds. */
export function weightedSum(row: ArrayLike<number>, weights: ArrayLike<number> | undefined, from = 0, to = row.length): number {
  let s = 0
  for (let b = from; b < to; b++) {
    const w = weights ? weights[b]! : 1
    if (w !== 0) s += w * row[b]!
  }
  return s
}

/** The results with parameter rows summed into `gradients` (unchanged for a graph without parameters). */
export function sumParamRows<A extends ArrayLike<number>>(graph: Graph, results: Results<A>, weights: ArrayLike<number> | undefined): Results<A> {
  const params = graph.params
  if (!params.length) return results
  const jacobian: Record<string, Record<string, A>> = {}
  const gradients: Record<string, Record<string, number>> = {}
  for (const [o, rows] of Object.entries(results.jacobian)) {
    jacobian[o] = {}
    gradients[o] = {}
    for (const [i, row] of Object.entries(rows)) {
      if (graph.isParam(i)) gradients[o]![i] = weightedSum(row, weights)
      else jacobian[o]![i] = row
    }
  }
  return { ...results, jacobian, gradients }
}
