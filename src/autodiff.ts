/**
 * Derivatives as graph transformations: the only place wavegrad takes a derivative. In: a source
 * Graph (levelized) and a destination Graph holding a copy of its nodes. Out: Terms of the
 * destination — each node's adjoint (reverse accumulation, one sweep per output) or tangent (forward
 * accumulation) — that any engine then evaluates as ordinary forward nodes.
 *
 * A sum of derivative terms is a chain of `gmadd` nodes (ops.ts): acc + g·p where a zero g adds
 * nothing, even through an infinite or NaN partial. That rule — an untaken `where` branch or a
 * masked singularity never poisons a gradient — is written once, in the op table, and every engine
 * inherits it. (A factor of ±1, as in sums, makes a plain add or sub: nothing there to mask.) Partials come from the op table's derivative rules, built once per (node, argument)
 * and shared by every output's sweep (the destination hash-conses the rest).
 *
 * Invariants: sweeps are loops over node ids, never recursions; an adjoint's terms are summed in
 * consumer order (ascending consumer id, then argument slot), starting from 1 at the output and 0
 * elsewhere, as `adj = seed; for each term: if g ≠ 0, adj += g·p` — the same numbers, up to the
 * sign of a zero; a partial that is 0 by the table (comparisons, where's condition) contributes no
 * term at all.
 */
import { GraphError } from './errors.js'
import type { Expr, Graph } from './graph.js'
import type { Levels } from './levelize.js'
import { constantOf, OPS, type OpName, type OpSpec } from './ops.js'

/** A symbolic quantity: an Expr of the destination graph, or a number known at build time. */
export type Term = Expr | number

/** ∂user/∂arg_slot as a Term, or undefined where the op table says it is 0 by definition. */
export type PartialOf = (user: number, slot: number) => Term | undefined

/**
 * acc + g·p as a `gmadd` node (folded to a number where the graph folds it). A g known to be 0 adds
 * nothing; a factor known to be ±1 makes a plain sum or difference (it cannot be infinite, so there
 * is nothing to mask; only the sign of a zero sum can differ from gmadd's).
 *
 * @example
 * accumulate(g, 0, adj, x.cos())   // gmadd(0, adj, cos x)
 * accumulate(g, acc, adj, 1)       // acc + adj
 */
export function accumulate(dst: Graph, acc: Term, g: Term, p: Term): Term {
  const kg = constantOf(g)
  if (kg === 0) return acc
  const kp = constantOf(p)
  const unit = kg === 1 || kg === -1 ? { k: kg, other: p } : kp === 1 || kp === -1 ? { k: kp, other: g } : undefined
  const ka = constantOf(acc)
  let sum: Expr
  if (unit && typeof unit.other !== 'number') {
    if (ka === 0) sum = unit.k === 1 ? unit.other : unit.other.neg()
    else sum = dst.apply(unit.k === 1 ? 'add' : 'sub', [acc, unit.other])
  } else {
    sum = dst.apply('gmadd', [acc, g, p])
  }
  return constantOf(sum) ?? sum
}

/**
 * Copies the live nodes of `src` into `dst` in wavefront order (levels.order), with their labels;
 * inputs via `input(name)`. Returns the copy of each source node by id (undefined for dead nodes).
 */
export function copyNodes(src: Graph, levels: Levels, dst: Graph, input: (name: string) => Expr): Expr[] {
  const map: Expr[] = new Array(src.nodeCount)
  for (const id of levels.order) {
    const kind = src.kind(id)
    const e = kind === 'input' ? input(src.label(id)!) : kind === 'const' ? dst.constant(src.constValue(id)) : dst.apply(kind, src.args(id).map((a) => map[a]!))
    const label = src.label(id)
    if (label !== undefined && kind !== 'input' && e.kind !== 'input' && e.kind !== 'const') dst.setLabel(e, label)
    map[id] = e
  }
  return map
}

/**
 * The partials of `src`'s nodes, built in `dst` from the copied nodes by the op table's rules, once
 * per (node, argument).
 */
export function partialsOf(src: Graph, dst: Graph, map: readonly Expr[]): PartialOf {
  const memo = new Map<number, Term>()
  return (user, slot) => {
    const spec: OpSpec = OPS[src.kind(user) as OpName]
    const d = spec.derivatives[slot]!
    if (d === 0) return undefined
    if (typeof d === 'number') return d
    const key = user * 3 + slot
    let p = memo.get(key)
    if (p === undefined) {
      const built = d(src.args(user).map((a) => map[a]!), map[user]!)
      if (typeof built === 'number' && !Number.isFinite(built)) throw new GraphError(`the derivative rule of '${src.kind(user)}' gave ${built}; a rule must build finite constants`)
      p = constantOf(built) ?? built
      memo.set(key, p)
    }
    return p
  }
}

/**
 * Reverse accumulation for one output: the adjoint ∂output/∂n of every node n the sweep reaches
 * (the output, and each active node with a term from a reached consumer), as Terms of `dst`:
 * adj(n) = [n = output] + Σ_consumers adj(c)·∂c/∂n. Unreached nodes have no entry (their adjoint is 0).
 */
export function adjoints(src: Graph, levels: Levels, output: number, partial: PartialOf, dst: Graph): Map<number, Term> {
  const { consumerStart, consumers, consumerSlot, active, level } = levels
  const adj = new Map<number, Term>()
  if (!active[output]) return adj
  // Ids descend: every consumer of a node (a larger id) is done before the node.
  for (let node = output; node >= 0; node--) {
    if (level[node]! < 0 || !active[node]) continue
    let acc: Term = node === output ? 1 : 0
    let reached = node === output
    for (let e = consumerStart[node]!; e < consumerStart[node + 1]!; e++) {
      const g = adj.get(consumers[e]!)
      if (g === undefined) continue
      const p = partial(consumers[e]!, consumerSlot[e]!)
      if (p === undefined) continue
      reached = true
      acc = accumulate(dst, acc, g, p)
    }
    if (reached) adj.set(node, acc)
  }
  return adj
}

/**
 * Forward accumulation: the tangent of every live node of `src` as a Term of `dst`,
 * dot(n) = Σ_i ∂n/∂arg_i · dot(arg_i), seeded by `seed(inputName)` at the inputs. The guard sits on
 * the partial here (gmadd(acc, ∂n/∂a, dot a)): where a partial is 0 — the untaken branch of a
 * `where` — an infinite tangent from inside that branch adds nothing, the forward image of a zero
 * adjoint masking an infinite partial in reverse.
 */
export function tangents(src: Graph, levels: Levels, partial: PartialOf, dst: Graph, seed: (name: string) => Term): Term[] {
  const dot: Term[] = new Array(src.nodeCount).fill(0)
  for (const id of levels.schedule) {
    const kind = src.kind(id)
    if (kind === 'input') dot[id] = seed(src.label(id)!)
    if (kind === 'input' || kind === 'const') continue
    let acc: Term = 0
    src.args(id).forEach((a, slot) => {
      if (dot[a] === 0) return
      const p = partial(id, slot)
      if (p !== undefined) acc = accumulate(dst, acc, p, dot[a]!)
    })
    dot[id] = acc
  }
  return dot
}
