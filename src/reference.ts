/**
 * CPU reference engine. In: a Graph and bindings (B values per input). Out: every output's values
 * and the Jacobian of every output with respect to every input, per binding, in float64 — or
 * float32-faithful (Math.fround after every op), to mirror a GPU.
 *
 * Method: the graph's program (program.ts: the forward nodes, then each output's reverse sweep as
 * nodes of the same graph) evaluated forward, node by node in schedule order, over tiles of the
 * batch (memory stays bounded for any B), with the op table's float64 formulas. The reverse sweep's
 * rule that a zero adjoint contributes 0 even through an infinite or NaN partial is the `gmadd` op's
 * own (ops.ts). This is the yardstick for every GPU result.
 */
import { allocate } from './admission.js'
import { checkBindings, type Bindings } from './bindings.js'
import { requireOutputs, type DefaultParams, type Graph } from './graph.js'
import type { Levels } from './levelize.js'
import { OPS, type OpSpec } from './ops.js'
import { programOf, type Program } from './program.js'
import { checkWeights, resultsFromRows, type Results, type SumOptions } from './results.js'

/** 'f64': plain float64. 'f32': every op result rounded to float32, as a GPU computes it. */
export type Precision = 'f64' | 'f32'

export interface CpuOptions extends SumOptions {
  readonly precision?: Precision
  /** false: values only (no reverse sweep; `jacobian` holds an empty object per output). */
  readonly jacobian?: boolean
}

/** Tile memory budget: values of all live nodes for one tile, in float64 elements. */
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
export function evaluateCpu<I extends string, O extends string, P extends string = DefaultParams<I>>(graph: Graph<I, O, P>, bindings: Bindings<I>, options: CpuOptions = {}): Results<Float64Array, I, O, P> {
  const precision = options.precision ?? 'f64'
  if (precision !== 'f64' && precision !== 'f32') throw new TypeError(`precision must be 'f64' or 'f32', got ${String(precision)}`)
  requireOutputs(graph)
  const { size, sources } = checkBindings(graph, bindings)
  const weights = checkWeights(graph, options.weights, size)
  const program = programOf(graph, { jacobian: options.jacobian ?? true })
  // checkBindings without `gpu` admits no GPU buffers: only arrays and numbers are left.
  const rows = allocate(program.rows.length * size * 8, `${program.rows.length} result rows × 8 bytes × ${size} bindings`, () => program.rows.map(() => new Float64Array(size)))
  evaluateProgram(program, sources as readonly (ArrayLike<number> | number)[], rows, 0, size, precision === 'f32')
  return resultsFromRows(graph, program, rows, weights, size, `cpu-reference-${precision}`)
}

/**
 * Bindings [from, from + count) of every row of a program, into `rows` (one array per row, indexed
 * by binding), in float64 or (`round`) rounded to float32 after every op. The same signature as
 * compiled JavaScript (codegen/js.ts), so the CPU engine runs either.
 */
export function evaluateProgram(program: Program, sources: readonly (ArrayLike<number> | number)[], rows: readonly (Float64Array | Float32Array)[], from: number, count: number, round = false): void {
  const forward = new Forward(program.levels, round, Math.max(1, Math.min(MAX_TILE, count, Math.floor(TILE_ELEMENTS / program.levels.liveCount))))
  for (let start = from; start < from + count; start += forward.tile) {
    const len = Math.min(forward.tile, from + count - start)
    forward.run(sources, start, len)
    program.rowNodes.forEach((node, r) => rows[r]!.set(forward.values(node, len), start))
  }
}

/**
 * The values of `nodes` of a graph at one binding (one number per input, in graph.inputs order), in
 * float64: what the eager Value reads its gradients from.
 */
export function valuesAt(levels: Levels, inputs: readonly number[], nodes: readonly number[]): number[] {
  const forward = new Forward(levels, false, 1)
  forward.run(inputs, 0, 1)
  return nodes.map((id) => forward.values(id, 1)[0]!)
}

/** The forward sweep over one tile of at most `tile` bindings, in schedule order. */
class Forward {
  /** Position of each live node in the schedule (its row in vals); -1 for dead nodes. */
  readonly #slot: Int32Array
  readonly #vals: Float64Array
  readonly #specs: (OpSpec | undefined)[]
  readonly #inputIndex: Int32Array

  constructor(
    readonly levels: Levels,
    readonly round: boolean,
    readonly tile: number,
  ) {
    const { graph, schedule } = levels
    this.#slot = new Int32Array(graph.nodeCount).fill(-1)
    schedule.forEach((id, i) => (this.#slot[id] = i))
    this.#vals = new Float64Array(schedule.length * tile)
    this.#specs = Array.from({ length: graph.nodeCount }, (_, id) => {
      const kind = graph.kind(id)
      return kind === 'input' || kind === 'const' ? undefined : OPS[kind]
    })
    this.#inputIndex = new Int32Array(graph.nodeCount).fill(-1)
    graph.inputs.forEach((name, i) => (this.#inputIndex[graph.inputNode(name)] = i))
  }

  /** Node `id`'s values for the tile run last (a view: valid until the next run). */
  values(id: number, len: number): Float64Array {
    const o = this.#slot[id]! * this.tile
    return this.#vals.subarray(o, o + len)
  }

  /** Values of every live node; sources[k] is input k's array, or one number for all bindings. */
  run(sources: readonly (ArrayLike<number> | number)[], start: number, len: number): void {
    const { graph, schedule } = this.levels
    const vals = this.#vals
    const { tile, round } = this
    const slot = this.#slot
    const fr = Math.fround
    for (const id of schedule) {
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
}
