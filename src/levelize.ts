/**
 * levelize: Graph -> wavefronts. In: a Graph. Out: the live nodes (inputs, and every ancestor of an
 * output) grouped by level, consumer lists in CSR form for the reverse sweep, and which nodes depend
 * on an input at all ("active": only those need adjoints).
 *
 * Invariants: level(input) = level(const) = 0, level(op) = 1 + max level of its arguments, so every
 * edge goes to a strictly higher level; `order` lists live nodes by (level, id); every pass is a
 * loop over node ids (a node's arguments have smaller ids), never a recursion, so a 10⁶-deep chain
 * is fine. Results are cached per graph version.
 */
import type { Graph } from './graph.js'
import { isZeroPartial, type OpName } from './ops.js'

export interface Levels {
  readonly graph: Graph
  /** Graph version these levels were computed for. */
  readonly version: number
  /** Level per node id; -1 for a dead node (no output uses it and it is not an input). */
  readonly level: Int32Array
  /** Live node ids sorted by (level, id). */
  readonly order: Int32Array
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

const cache = new WeakMap<Graph, Levels>()

/**
 * Groups a graph's live nodes into wavefronts.
 *
 * @example
 * const lv = levelize(parse('y = x*x; z = y + y'))
 * lv.depth  // 2
 */
export function levelize(graph: Graph): Levels {
  const hit = cache.get(graph)
  if (hit && hit.version === graph.version) return hit
  const levels = compute(graph)
  cache.set(graph, levels)
  return levels
}

function compute(graph: Graph): Levels {
  const n = graph.nodeCount
  const live = new Uint8Array(n)
  for (const name of graph.outputs) live[graph.outputNode(name)] = 1
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
  const fill = levelStart.slice(0, depth + 1)
  for (let id = 0; id < n; id++) if (level[id]! >= 0) order[fill[level[id]!]!++] = id

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

  return { graph, version: graph.version, level, order, levelStart, consumerStart, consumers, consumerSlot, active, depth, widest, liveCount }
}

/**
 * The nodes an output's Jacobian needs: active ancestors of `output` (itself included), as a 0/1
 * mask over node ids.
 */
export function gradientCone(levels: Levels, output: number): Uint8Array {
  const { graph, active } = levels
  const cone = new Uint8Array(graph.nodeCount)
  if (!active[output]) return cone
  cone[output] = 1
  for (let id = output; id >= 0; id--) {
    if (!cone[id]) continue
    for (const a of graph.args(id)) if (active[a]) cone[a] = 1
  }
  return cone
}

/** One node's adjoint in a reverse sweep: seeded with 1 (the output itself) plus gathered terms. */
export interface AdjointStep {
  readonly node: number
  readonly seed: boolean
  /** Consumers in the cone, each with the argument slot `node` fills there (with multiplicity). */
  readonly users: readonly { readonly user: number; readonly slot: number }[]
}

/**
 * The nodes a reverse sweep gives an adjoint: the seed, and every node with a term from such a
 * node (users whose partial is zero by definition bring none). Every emitter's `has`.
 */
export function reachedBy(schedule: readonly AdjointStep[], nodeCount: number): Uint8Array {
  const has = new Uint8Array(nodeCount)
  for (const { node, seed, users } of schedule) if (seed || users.some(({ user }) => has[user])) has[node] = 1
  return has
}

/**
 * The reverse sweep of one output as data: the nodes of its gradient cone in reverse wavefront
 * order, each with the consumers its adjoint gathers from (adj(n) = [n = output] + Σ adj(user) ·
 * ∂user/∂n), leaving out partials that are zero by definition (isZeroPartial). Every engine and
 * emitter walks this same schedule.
 */
export function adjointSchedule(levels: Levels, output: number): AdjointStep[] {
  const { order, consumerStart, consumers, consumerSlot } = levels
  const cone = gradientCone(levels, output)
  const steps: AdjointStep[] = []
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i]!
    if (!cone[node]) continue
    const users: { user: number; slot: number }[] = []
    for (let e = consumerStart[node]!; e < consumerStart[node + 1]!; e++) {
      const user = consumers[e]!
      if (cone[user] && !isZeroPartial(levels.graph.kind(user) as OpName, consumerSlot[e]!)) users.push({ user, slot: consumerSlot[e]! })
    }
    steps.push({ node, seed: node === output, users })
  }
  return steps
}
