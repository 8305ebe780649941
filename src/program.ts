/**
 * Program: what every engine evaluates. In: a Graph and whether Jacobians are wanted. Out: one
 * forward graph — a copy of the original's live nodes in wavefront order, then, for Jacobians, each
 * output's reverse sweep (autodiff.ts) — and the node whose value is each result row.
 *
 * Rows, in this order: for each output its value, then (Jacobians) ∂output/∂input for every input
 * in graph.inputs order (parameters included: the engines sum those over the batch). A row may be
 * any node: an op, an input (f = x), or a constant (∂f/∂y = 0 where f ignores y).
 *
 * Invariants: the user's graph is never touched; the program graph has the same inputs in the same
 * order; programs are cached per (graph, version, jacobian); every backend evaluates
 * `levels.schedule` (ascending ids: the forward pass, then the sweeps) and nothing else.
 */
import { adjoints, copyNodes, partialsOf } from './autodiff.js'
import { perGraph } from './cache.js'
import { Graph, requireOutputs, type Expr } from './graph.js'
import { levelize, type Levels } from './levelize.js'

/** One row of results. */
export interface Row {
  readonly kind: 'value' | 'jacobian'
  readonly output: string
  /** The input this Jacobian row differentiates by (jacobian rows only). */
  readonly input?: string
}

export interface Program {
  /** The forward graph the engines evaluate (a copy, with the sweeps added). */
  readonly graph: Graph
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly rows: readonly Row[]
  /** The node of `graph` whose value is each row. */
  readonly rowNodes: Int32Array
  /** False for a values-only program (one row per output). */
  readonly jacobian: boolean
  /** `graph` levelized for the row nodes. */
  readonly levels: Levels
  /** Live nodes of the original graph (what the program computes is a few times more). */
  readonly sourceNodes: number
  /** Nodes below this id are the original graph's (its forward part); the sweeps' come after. */
  readonly forwardNodes: number
}

export interface ProgramOptions {
  /** false: values only (no reverse sweep): forward mode's JVP graphs, predictions. Default true. */
  readonly jacobian?: boolean | undefined
}

const programs = perGraph<Program>()

/**
 * The program of a graph (cached while the graph is unchanged).
 *
 * @example
 * const p = programOf(parse('f = x*y'))
 * p.rows             // [value f, ∂f/∂x, ∂f/∂y]
 * p.rowNodes         // the nodes x*y, y, x of p.graph
 */
export function programOf(graph: Graph, options: ProgramOptions = {}): Program {
  requireOutputs(graph)
  const jacobian = options.jacobian ?? true
  return programs(graph, jacobian ? 'jacobian' : 'values', () => build(graph, jacobian))
}

function build(source: Graph, jacobian: boolean): Program {
  const inputs = source.inputs
  const outputs = source.outputs
  const levels = levelize(source)
  const dst = new Graph({ simplify: source.simplifies })
  for (const name of inputs) dst.input(name)
  const map = copyNodes(source, levels, dst, (name) => dst.input(name))
  const forwardNodes = dst.nodeCount
  const rows: Row[] = []
  const nodes: Expr[] = []
  const partial = partialsOf(source, dst, map)
  for (const output of outputs) {
    const out = source.outputNode(output)
    rows.push({ kind: 'value', output })
    nodes.push(map[out]!)
    if (!jacobian) continue
    const adj = adjoints(source, levels, out, partial, dst)
    for (const input of inputs) {
      const a = adj.get(source.inputNode(input)) ?? 0
      rows.push({ kind: 'jacobian', output, input })
      nodes.push(typeof a === 'number' ? dst.constant(a) : a)
    }
  }
  const rowNodes = Int32Array.from(nodes, (e) => e.id)
  return { graph: dst, inputs, outputs, rows, rowNodes, jacobian, levels: levelize(dst, [...rowNodes]), sourceNodes: levels.liveCount, forwardNodes }
}

/**
 * The rows of each node of a program (a node may be several rows: every zero Jacobian entry is the
 * constant 0, an output may be another output's node).
 */
export function rowsByNode(program: Program): Map<number, number[]> {
  const rows = new Map<number, number[]>()
  program.rowNodes.forEach((node, r) => {
    const list = rows.get(node)
    if (list) list.push(r)
    else rows.set(node, [r])
  })
  return rows
}

/** Index in program.rows of output o's value row (no input), or of its ∂o/∂input row. */
export function rowIndex(program: { readonly jacobian: boolean; readonly inputs: readonly string[] }, outputIndex: number, inputIndex?: number): number {
  if (!program.jacobian) {
    if (inputIndex !== undefined) throw new RangeError('a values-only program has no Jacobian rows')
    return outputIndex
  }
  return outputIndex * (1 + program.inputs.length) + (inputIndex === undefined ? 0 : 1 + inputIndex)
}
