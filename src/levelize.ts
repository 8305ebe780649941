/**
 * levelize: Graph -> wavefronts. In: a Graph (and optionally the nodes it is evaluated for; default
 * its outputs). Out: the live nodes (inputs, and every ancestor of a root) grouped by level, in id
 * order (`schedule`, what every backend evaluates in), consumer lists in CSR form for the reverse
 * sweep (autodiff.ts), and which nodes depend on an input at all ("active": only those need
 * adjoints).
 *
 * Invariants: level(input) = level(const) = 0, level(op) = 1 + max level of its arguments, so every
 * edge goes to a strictly higher level; `order` lists live nodes by (level, id), `schedule` by id
 * (both topological: a node's arguments have smaller ids); every pass is a loop over node ids, never
 * a recursion, so a 10⁶-deep chain is fine. levelize(graph) is cached per graph version.
 */
import { perGraph } from './cache.js'
import type { Graph } from './graph.js'

export interface Levels {
  readonly graph: Graph
  /** Graph version these levels were computed for. */
  readonly version: number
  /** Level per node id; -1 for a dead node (no output uses it and it is not an input). */
  readonly level: Int32Array
  /** Live node ids sorted by (level, id). */
  readonly order: Int32Array
  /** Live node ids in ascending order: the order every backend evaluates them in. */
  readonly schedule: Int32Array
  /** Nodes of level l are order[levelStart[l] .. levelStart[l + 1]). */
  readonly levelStart: Int32Array
  /** Live consumers of node n are consumers[consumerStart[n] .. consumerStart[n + 1]). */
  readonly consumerStart: Int32Array
  readonly consumers: Int32Array
  /** The argument slot of n in the consumer at the same index (x*x lists its consumer twice). */
  readonly consumerSlot: Uint8Array
  /** 1 where a node depends on at least one input (needs an adjoint), else 0. */
  readonly active: Uint8Array
  /** Deepest level (0 for a graph of inputs and constants only). */
  readonly depth: number
  /** Most nodes in one level. */
  readonly widest: number
  /** Number of live nodes. */
  readonly liveCount: number
}

const cache = perGraph<Levels>()

/**
 * Groups a graph's live nodes into wavefronts: those its outputs need, or (`roots`, not cached)
 * those the given nodes need. Inputs are always live.
 *
 * @example
 * const lv = levelize(parse('y = x*x; z = y + y'))
 * lv.depth  // 2
 */
export function levelize(graph: Graph, roots?: readonly number[]): Levels {
  if (roots) return compute(graph, roots)
  return cache(graph, 'levels', () => compute(graph, graph.outputs.map((o) => graph.outputNode(o))))
}

function compute(graph: Graph, roots: readonly number[]): Levels {
  const n = graph.nodeCount
  const live = new Uint8Array(n)
  for (const id of roots) live[id] = 1
  for (const name of graph.inputs) live[graph.inputNode(name)] = 1
  for (let id = n - 1; id >= 0; id--) {
    if (live[id]) for (const a of graph.args(id)) live[a] = 1
  }

  const level = new Int32Array(n).fill(-1)
  const active = new Uint8Array(n)
  let depth = 0
  let liveCount = 0
  let edges = 0
  for (let id = 0; id < n; id++) {
    if (!live[id]) continue
    liveCount++
    const kind = graph.kind(id)
    if (kind === 'input') active[id] = 1
    let l = -1
    for (const a of graph.args(id)) {
      l = Math.max(l, level[a]!)
      if (active[a]) active[id] = 1
      edges++
    }
    level[id] = l + 1
    if (l + 1 > depth) depth = l + 1
  }

  // Counting sort by level keeps ids ascending within a level.
  const levelStart = new Int32Array(depth + 2)
  for (let id = 0; id < n; id++) if (level[id]! >= 0) levelStart[level[id]! + 1]!++
  let widest = 0
  for (let l = 0; l <= depth; l++) {
    widest = Math.max(widest, levelStart[l + 1]!)
    levelStart[l + 1]! += levelStart[l]!
  }
  const order = new Int32Array(liveCount)
  const schedule = new Int32Array(liveCount)
  const fill = levelStart.slice(0, depth + 1)
  for (let id = 0, k = 0; id < n; id++) {
    if (level[id]! < 0) continue
    order[fill[level[id]!]!++] = id
    schedule[k++] = id
  }

  const consumerStart = new Int32Array(n + 1)
  for (let id = 0; id < n; id++) if (live[id]) for (const a of graph.args(id)) consumerStart[a + 1]!++
  for (let id = 0; id < n; id++) consumerStart[id + 1]! += consumerStart[id]!
  const consumers = new Int32Array(edges)
  const consumerSlot = new Uint8Array(edges)
  const next = consumerStart.slice(0, n)
  for (let id = 0; id < n; id++) {
    if (!live[id]) continue
    const args = graph.args(id)
    for (let s = 0; s < args.length; s++) {
      const at = next[args[s]!]!++
      consumers[at] = id
      consumerSlot[at] = s
    }
  }

  return { graph, version: graph.version, level, order, schedule, levelStart, consumerStart, consumers, consumerSlot, active, depth, widest, liveCount }
}
