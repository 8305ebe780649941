/**
 * Results: what every engine returns, and how rows become it. In: a program's rows (one array of B
 * numbers per row, or a batch sum where a row was summed instead). Out: `{ values, jacobian,
 * gradients?, size, backend }` — the one shape of the reference, the CPU engine and the GPU engine.
 *
 * Parameters (Graph.param): their Jacobian rows are not returned per binding; `gradients[output][p]`
 * = Σ_b w_b · ∂output/∂p (b) instead, weights from `{ weights }` (default 1). A weight of 0 drops
 * its binding even where the Jacobian is NaN or infinite (the zero-adjoint rule again). The CPU
 * engines sum in float64 in binding order; the GPU engine sums on the GPU in a fixed order
 * (gpu/reduce.ts).
 */
import type { Bindings } from './bindings.js'
import { BindingError } from './errors.js'
import { describe, type DefaultParams, type Graph } from './graph.js'
import type { Program } from './program.js'

/**
 * The inputs that get a Jacobian row per binding: those that are not parameters, or every input
 * where the parameters' names are not known to the type system (`string`).
 */
export type OrdinaryInputs<I extends string, P extends string> = string extends P ? I : Exclude<I, P>

/**
 * Values and Jacobians per binding: values[out][b], jacobian[out][input][b]. The type parameters
 * after the array type are the graph's input, output and parameter names (see Graph): results of a
 * graph typed with its names have exactly those keys.
 */
export interface Results<A, I extends string = string, O extends string = string, P extends string = DefaultParams<I>> {
  readonly values: Record<O, A>
  /** Per-binding ∂output/∂input for every input that is not a parameter. */
  readonly jacobian: Record<O, Record<OrdinaryInputs<I, P>, A>>
  /** For a graph with parameters (Graph.param): ∂output/∂param summed over the batch (weighted). */
  readonly gradients?: Record<O, Record<P, number>>
  /** Number of bindings. */
  readonly size: number
  /** What computed these numbers, e.g. 'cpu-reference-f64' or 'webgpu (llvmpipe ...)'. */
  readonly backend: string
}

/**
 * Anything that evaluates graphs: the GPU and CPU engines, referenceEngine(), or a stand-in. All of
 * wavegrad's take `{ jacobian: false }` (values only, no reverse sweep); others compute and drop it.
 */
export interface Evaluator<A extends ArrayLike<number> = ArrayLike<number>> {
  evaluate(graph: Graph, bindings: Bindings, options?: { readonly jacobian?: boolean }): Promise<Results<A>> | Results<A>
}

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

/** Which rows of a program are batch sums rather than arrays: the parameters' Jacobian rows. */
export function paramRows(graph: Graph, program: Program): number[] {
  return program.rows.flatMap((row, r) => (row.kind === 'jacobian' && graph.isParam(row.input!) ? [r] : []))
}

/**
 * Results from a program's rows: `rows[r]` the per-binding array of row r, or undefined where the
 * row was summed over the batch instead (`sums.get(r)`: a parameter's gradient, or with `sumsOnly`
 * an output's total). `totals` is present when value rows were summed.
 */
export function assembleResults<A>(graph: Graph, program: Program, rows: readonly (A | undefined)[], sums: ReadonlyMap<number, number>, size: number, backend: string): Results<A> & { readonly totals?: Record<string, number> } {
  const values: Record<string, A> = {}
  const jacobian: Record<string, Record<string, A>> = {}
  const gradients: Record<string, Record<string, number>> = {}
  const totals: Record<string, number> = {}
  program.rows.forEach((row, r) => {
    const array = rows[r]
    if (row.kind === 'value') {
      if (array !== undefined) {
        values[row.output] = array
        jacobian[row.output] = {}
      } else if (sums.has(r)) totals[row.output] = sums.get(r)!
      gradients[row.output] = {}
    } else if (graph.isParam(row.input!)) {
      if (sums.has(r)) gradients[row.output]![row.input!] = sums.get(r)!
    } else if (array !== undefined) {
      ;(jacobian[row.output] ??= {})[row.input!] = array
    }
  })
  return {
    values,
    jacobian,
    size,
    backend,
    ...(graph.params.length && program.jacobian ? { gradients } : {}),
    ...(Object.keys(totals).length ? { totals } : {}),
  }
}

/**
 * Results from every row computed per binding (the CPU engines): parameter rows summed in float64
 * with the weights.
 */
export function resultsFromRows<A extends ArrayLike<number>>(graph: Graph, program: Program, rows: readonly A[], weights: ArrayLike<number> | undefined, size: number, backend: string): Results<A> {
  const sums = new Map<number, number>()
  for (const r of paramRows(graph, program)) sums.set(r, weightedSum(rows[r]!, weights))
  return assembleResults(graph, program, rows.map((a, r) => (sums.has(r) ? undefined : a)), sums, size, backend)
}
