/**
 * CPU reference engine. In: a Graph and bindings (B values per input). Out: every output's values
 * and the Jacobian of every output with respect to every input, per binding, in float64 — or
 * float32-faithful (Math.fround after every op, partial, product and sum), to mirror a GPU.
 *
 * Method: the batch is cut into tiles (memory stays bounded for any B); per tile a forward sweep in
 * wavefront order, then per output a reverse sweep that GATHERS each node's adjoint from its
 * consumers (adj(n) = [n = output] + Σ_c adj(c)·∂c/∂n), restricted to the output's gradient cone.
 * A consumer whose adjoint is exactly 0 contributes 0 even where its partial is infinite or NaN (an
 * untaken `where` branch does not poison the gradient). This is the yardstick for every GPU result.
 */
import { checkWeights, sumParamRows, type SumOptions } from './params.js'
import { checkBindings, type Bindings } from './bindings.js'
import { requireOutputs, type Graph } from './graph.js'
import { adjointSchedule, levelize, type AdjointStep, type Levels } from './levelize.js'
import { OPS, type OpSpec } from './ops.js'

/** 'f64': plain float64. 'f32': every op result rounded to float32, as a GPU computes it. */
export type Precision = 'f64' | 'f32'

export interface CpuOptions extends SumOptions {
  readonly precision?: Precision
  /** false: values only (no reverse sweep; `jacobian` holds an empty object per output). */
  readonly jacobian?: boolean
}

/** Values and Jacobians per binding: values[out][b], jacobian[out][input][b]. */
export interface Results<A> {
  readonly values: Record<string, A>
  /** Per-binding ∂output/∂input for every input that is not a parameter. */
  readonly jacobian: Record<string, Record<string, A>>
  /** For a graph with parameters (Graph.param): ∂output/∂param summed over the batch (weighted). */
  readonly gradients?: Record<string, Record<string, number>>
  /** Number of bindings. */
  readonly size: number
  /** What computed these numbers, e.g. 'cpu-reference-f64' or 'webgpu (llvmpipe ...)'. */
  readonly backend: string
}

/** Tile memory budget: values + adjoints of all live nodes for one tile, in float64 elements. */
const TILE_ELEMENTS = 1 << 21
const MAX_TILE = 4096

/**
 * Evaluates every output and its full Jacobian on the CPU, per binding.
 *
 * @example
 * const g = parse('f = x*y + sin(x)')
 * const r = evaluateCpu(g, { x: [1, 2], y: [3, 4] })
 * r.values.f[1]; r.jacobian.f.x[1]   // f(2, 4), ∂f/∂x at (2, 4)
 */
export function evaluateCpu(graph: Graph, bindings: Bindings, options: CpuOptions = {}): Results<Float64Array> {
  const precision = options.precision ?? 'f64'
  if (precision !== 'f64' && precision !== 'f32') throw new TypeError(`precision must be 'f64' or 'f32', got ${String(precision)}`)
  requireOutputs(graph)
  const { size, sources } = checkBindings(graph, bindings)
  const weights = checkWeights(graph, options.weights, size)
  const withJacobian = options.jacobian ?? true
  // checkBindings without `gpu` admits no GPU buffers: only arrays and numbers are left.
  const arrays = sources as readonly (ArrayLike<number> | number)[]
  const levels = levelize(graph)
  const inputs = graph.inputs
  const outputs = graph.outputs
  const values: Record<string, Float64Array> = {}
  const jacobian: Record<string, Record<string, Float64Array>> = {}
  for (const o of outputs) {
    values[o] = new Float64Array(size)
    jacobian[o] = withJacobian ? Object.fromEntries(inputs.map((i) => [i, new Float64Array(size)])) : {}
  }
  const outNodes = outputs.map((o) => graph.outputNode(o))
  const inNodes = inputs.map((i) => graph.inputNode(i))
  const schedules = withJacobian ? outNodes.map((o) => adjointSchedule(levels, o)) : outNodes.map(() => [])
  const sweep = new Sweep(levels, precision === 'f32', Math.max(1, Math.min(MAX_TILE, size, Math.floor(TILE_ELEMENTS / (2 * levels.liveCount)))))

  for (let start = 0; start < size; start += sweep.tile) {
    const len = Math.min(sweep.tile, size - start)
    sweep.forward(arrays, start, len)
    outputs.forEach((o, k) => {
      const node = outNodes[k]!
      values[o]!.set(sweep.vals.subarray(sweep.slot[node]! * sweep.tile, sweep.slot[node]! * sweep.tile + len), start)
      const schedule = schedules[k]!
      if (schedule.length === 0 || !withJacobian) return
      sweep.reverse(schedule, len)
      const reached = new Set(schedule.map((step) => step.node))
      inputs.forEach((name, i) => {
        const id = inNodes[i]!
        if (reached.has(id)) jacobian[o]![name]!.set(sweep.adj.subarray(sweep.slot[id]! * sweep.tile, sweep.slot[id]! * sweep.tile + len), start)
      })
    })
  }
  const results = { values, jacobian, size, backend: `cpu-reference-${precision}` }
  return withJacobian ? sumParamRows(graph, results, weights) : results
}

/**
 * Adjoints d(output)/d(node) of every node for ONE binding: what the eager Value needs (it reports
 * a gradient on every node it reached, not only on inputs). Index: node id; 0 outside the cone.
 */
export function adjointsOfAllNodes(graph: Graph, inputValues: readonly number[], output: number): Float64Array {
  const levels = levelize(graph)
  const sweep = new Sweep(levels, false, 1)
  sweep.forward(inputValues.map((v) => [v]), 0, 1)
  const schedule = adjointSchedule(levels, output)
  const result = new Float64Array(graph.nodeCount)
  sweep.reverse(schedule, 1)
  for (const { node } of schedule) result[node] = sweep.adj[sweep.slot[node]!]!
  return result
}

/** Forward and reverse sweeps over one tile of at most `tile` bindings. */
class Sweep {
  /** Position of each live node in levels.order (its row in vals/adj); -1 for dead nodes. */
  readonly slot: Int32Array
  readonly vals: Float64Array
  readonly adj: Float64Array
  readonly #specs: (OpSpec | undefined)[]
  readonly #inputIndex: Int32Array

  constructor(
    readonly levels: Levels,
    readonly round: boolean,
    readonly tile: number,
  ) {
    const { graph, order } = levels
    this.slot = new Int32Array(graph.nodeCount).fill(-1)
    order.forEach((id, i) => (this.slot[id] = i))
    this.vals = new Float64Array(order.length * tile)
    this.adj = new Float64Array(order.length * tile)
    this.#specs = Array.from({ length: graph.nodeCount }, (_, id) => {
      const kind = graph.kind(id)
      return kind === 'input' || kind === 'const' ? undefined : OPS[kind]
    })
    this.#inputIndex = new Int32Array(graph.nodeCount).fill(-1)
    graph.inputs.forEach((name, i) => (this.#inputIndex[graph.inputNode(name)] = i))
  }

  /** Values of every live node; sources[k] is input k's array, or one number for all bindings. */
  forward(sources: readonly (ArrayLike<number> | number)[], start: number, len: number): void {
    const { graph, order } = this.levels
    const { vals, tile, slot, round } = this
    const fr = Math.fround
    for (const id of order) {
      const o = slot[id]! * tile
      const spec = this.#specs[id]
      if (!spec) {
        const input = this.#inputIndex[id]!
        const src = input >= 0 ? sources[input]! : graph.constValue(id)
        if (typeof src === 'number') {
          vals.fill(round ? fr(src) : src, o, o + len)
        } else {
          for (let j = 0; j < len; j++) vals[o + j] = round ? fr(src[start + j]!) : src[start + j]!
        }
        continue
      }
      const args = graph.args(id)
      const a = slot[args[0]!]! * tile
      const b = args.length > 1 ? slot[args[1]!]! * tile : a
      const c = args.length > 2 ? slot[args[2]!]! * tile : a
      const f = spec.eval
      if (round) for (let j = 0; j < len; j++) vals[o + j] = fr(f(vals[a + j]!, vals[b + j]!, vals[c + j]!))
      else for (let j = 0; j < len; j++) vals[o + j] = f(vals[a + j]!, vals[b + j]!, vals[c + j]!)
    }
  }

  /** Adjoints of every node of an output's schedule (forward must have run). */
  reverse(schedule: readonly AdjointStep[], len: number): void {
    const { graph } = this.levels
    const { vals, adj, tile, slot, round } = this
    const fr = Math.fround
    for (const { node, seed, users } of schedule) {
      const o = slot[node]! * tile
      adj.fill(seed ? 1 : 0, o, o + len)
      for (const { user, slot: argSlot } of users) {
        const partial = this.#specs[user]!.partials[argSlot]!
        const args = graph.args(user)
        const u = slot[user]! * tile
        const a = slot[args[0]!]! * tile
        const b = args.length > 1 ? slot[args[1]!]! * tile : a
        const c = args.length > 2 ? slot[args[2]!]! * tile : a
        for (let j = 0; j < len; j++) {
          const g = adj[u + j]!
          if (g === 0) continue
          const p = partial(vals[a + j]!, vals[b + j]!, vals[c + j]!, vals[u + j]!)
          adj[o + j] = round ? fr(adj[o + j]! + fr(g * fr(p))) : adj[o + j]! + g * p
        }
      }
    }
  }
}
