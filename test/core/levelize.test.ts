/**
 * levelize on random DAGs (fast-check): every property recomputed independently from the graph's
 * node list — liveness by a search from the outputs, levels by memoised longest path, consumers from
 * the edge list — and a 10⁶-deep chain without stack overflow.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Graph, OPS, OP_NAMES, levelize, parse, type Expr } from '../../src/index.js'

interface Spec {
  readonly inputs: number
  readonly steps: readonly { op: number; args: readonly number[]; konst: number }[]
  readonly outputs: readonly number[]
}

const spec: fc.Arbitrary<Spec> = fc.record({
  inputs: fc.integer({ min: 1, max: 5 }),
  steps: fc.array(
    fc.record({
      // op index; values past the table build a constant argument instead
      op: fc.integer({ min: 0, max: OP_NAMES.length + 2 }),
      args: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      konst: fc.integer({ min: -3, max: 3 }),
    }),
    { maxLength: 40 },
  ),
  outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
})

/** Builds the graph a Spec describes: each step applies an op to earlier pool entries. */
function build(s: Spec): Graph {
  const g = new Graph()
  const pool: Expr[] = []
  for (let i = 0; i < s.inputs; i++) pool.push(g.input(`x${i}`))
  for (const step of s.steps) {
    const name = OP_NAMES[step.op]
    if (name === undefined) {
      pool.push(g.constant(step.konst * 0.5))
      continue
    }
    const args = step.args.slice(0, OPS[name].arity).map((a) => pool[a % pool.length]!)
    pool.push(g.apply(name, args))
  }
  s.outputs.forEach((o, k) => g.output(`o${k}`, pool[o % pool.length]!))
  return g
}

/** Independent recomputation of everything levelize reports. */
function oracle(g: Graph) {
  const n = g.nodeCount
  const live = new Set<number>(g.inputs.map((x) => g.inputNode(x)))
  const stack = g.outputs.map((o) => g.outputNode(o))
  while (stack.length) {
    const id = stack.pop()!
    if (live.has(id) && g.kind(id) !== 'input') continue
    live.add(id)
    for (const a of g.args(id)) if (!live.has(a)) stack.push(a)
  }
  const memo = new Map<number, number>()
  const level = (id: number): number => {
    const known = memo.get(id)
    if (known !== undefined) return known
    const args = g.args(id)
    const l = args.length === 0 ? 0 : 1 + Math.max(...args.map(level))
    memo.set(id, l)
    return l
  }
  const act = new Map<number, boolean>()
  const active = (id: number): boolean => {
    const known = act.get(id)
    if (known !== undefined) return known
    const v = g.kind(id) === 'input' || g.args(id).some(active)
    act.set(id, v)
    return v
  }
  const levels = Array.from({ length: n }, (_, id) => (live.has(id) ? level(id) : -1))
  const edges: [number, number, number][] = [] // [argument, consumer, slot]
  for (const id of live) g.args(id).forEach((a, slot) => edges.push([a, id, slot]))
  return { live, levels, edges, active: Array.from({ length: n }, (_, id) => (live.has(id) && active(id) ? 1 : 0)) }
}

describe('levelize on random DAGs', () => {
  test('levels, order, consumers, liveness, depth and widest agree with an independent computation', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const g = build(s)
        const lv = levelize(g)
        const o = oracle(g)
        const n = g.nodeCount

        // level = longest path from a level-0 node; dead nodes -1
        expect(Array.from(lv.level)).toEqual(o.levels)
        // every edge goes to a strictly higher level
        for (const [a, c] of o.edges) expect(lv.level[c]!).toBeGreaterThan(lv.level[a]!)
        // order: each live node once, sorted by (level, id)
        expect(lv.liveCount).toBe(o.live.size)
        expect([...lv.order].sort((p, q) => p - q)).toEqual([...o.live].sort((p, q) => p - q))
        for (let i = 1; i < lv.order.length; i++) {
          const p = lv.order[i - 1]!
          const q = lv.order[i]!
          expect(lv.level[p]! < lv.level[q]! || (lv.level[p] === lv.level[q] && p < q)).toBe(true)
        }
        // levelStart brackets each level
        const depth = Math.max(0, ...o.levels)
        expect(lv.depth).toBe(depth)
        for (let l = 0; l <= depth; l++) {
          const ids = Array.from(lv.order.subarray(lv.levelStart[l]!, lv.levelStart[l + 1]!))
          expect(ids.every((id) => lv.level[id] === l)).toBe(true)
          expect(ids.length).toBe(o.levels.filter((x) => x === l).length)
        }
        const widths = Array.from({ length: depth + 1 }, (_, l) => o.levels.filter((x) => x === l).length)
        expect(lv.widest).toBe(Math.max(...widths))
        // consumer CSR = the edge list, with multiplicity and slots
        const csr: string[] = []
        for (let id = 0; id < n; id++) {
          for (let e = lv.consumerStart[id]!; e < lv.consumerStart[id + 1]!; e++) csr.push(`${id}>${lv.consumers[e]}@${lv.consumerSlot[e]}`)
        }
        expect(csr.sort()).toEqual(o.edges.map(([a, c, slot]) => `${a}>${c}@${slot}`).sort())
        expect(lv.consumerStart[n]).toBe(o.edges.length)
        // active: depends on an input
        expect(Array.from(lv.active)).toEqual(o.active)
      }),
      { numRuns: 400, seed: 42 },
    )
  })

  test('schedule: the live nodes in id order; given roots, only their ancestors (and the inputs) are live', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const g = build(s)
        const lv = levelize(g)
        expect(Array.from(lv.schedule)).toEqual(Array.from(lv.order).sort((p, q) => p - q))
        for (const name of g.outputs) {
          const out = g.outputNode(name)
          const expected = new Set<number>(g.inputs.map((i) => g.inputNode(i)))
          const stack = [out]
          while (stack.length) {
            const id = stack.pop()!
            if (expected.has(id) && id !== out) continue
            expected.add(id)
            for (const a of g.args(id)) if (!expected.has(a)) stack.push(a)
          }
          const one = levelize(g, [out])
          expect(Array.from(one.schedule)).toEqual([...expected].sort((p, q) => p - q))
          for (const id of one.schedule) for (const a of g.args(id)) expect(one.level[a]!).toBeLessThan(one.level[id]!)
        }
      }),
      { numRuns: 200, seed: 43 },
    )
  })
})

describe('levelize by hand', () => {
  test('y = x*x; z = y + y: x*x lists its consumer twice, with slots 0 and 1', () => {
    const g = parse('y = x*x; z = y + y')
    const lv = levelize(g)
    const x = g.inputNode('x')
    const z = g.outputNode('z')
    const [y] = g.args(z)
    expect(lv.depth).toBe(2)
    expect([lv.level[x], lv.level[y!], lv.level[z]]).toEqual([0, 1, 2])
    const uses = (id: number) => Array.from({ length: lv.consumerStart[id + 1]! - lv.consumerStart[id]! }, (_, k) => [lv.consumers[lv.consumerStart[id]! + k], lv.consumerSlot[lv.consumerStart[id]! + k]])
    expect(uses(x)).toEqual([[y, 0], [y, 1]])
    expect(uses(y!)).toEqual([[z, 0], [z, 1]])
    expect(uses(z)).toEqual([])
  })

  test('dead nodes get level -1; an unused input is live at level 0; constants are level 0', () => {
    const g = new Graph()
    const x = g.input('x')
    const unused = g.input('u')
    const dead = x.sin()
    const c = g.constant(2)
    g.output('f', x.mul(c))
    const lv = levelize(g)
    expect(lv.level[dead.id]).toBe(-1)
    expect(lv.level[unused.id]).toBe(0)
    expect(lv.level[c.id]).toBe(0)
    expect(lv.active[c.id]).toBe(0)
    expect(lv.active[unused.id]).toBe(1)
    expect(lv.liveCount).toBe(4)
    expect(lv.widest).toBe(3)
    // the dead sin is not listed as a consumer of x
    expect(lv.consumerStart[x.id + 1]! - lv.consumerStart[x.id]!).toBe(1)
  })

  test('a graph of inputs and constants only has depth 0', () => {
    const g = new Graph()
    g.output('f', g.input('x'))
    g.output('k', 3)
    const lv = levelize(g)
    expect(lv.depth).toBe(0)
    expect(lv.widest).toBe(2)
    expect(Array.from(lv.levelStart)).toEqual([0, 2])
  })

  test('results are cached per graph version and recomputed after a change', () => {
    const g = parse('f = x * 2')
    const a = levelize(g)
    expect(levelize(g)).toBe(a)
    g.output('h', g.input('x').sin())
    const b = levelize(g)
    expect(b).not.toBe(a)
    expect(b.version).toBe(g.version)
    expect(b.depth).toBe(1)
    expect(b.liveCount).toBe(a.liveCount + 1)
  })
})

describe('levelize at depth', () => {
  test('a 10⁶-deep chain levelizes without stack overflow', () => {
    const g = new Graph()
    const x = g.input('x')
    let e = x
    const N = 1_000_000
    for (let i = 0; i < N; i++) e = e.mul(1.0001)
    g.output('f', e)
    expect(g.nodeCount).toBe(N + 2)
    const lv = levelize(g)
    expect(lv.depth).toBe(N)
    expect(lv.level[e.id]).toBe(N)
    expect(lv.widest).toBe(2) // x and the constant
    expect(lv.liveCount).toBe(N + 2)
    // the constant (one node, hash-consed) feeds every link of the chain
    const k = g.constant(1.0001).id
    expect(lv.consumerStart[k + 1]! - lv.consumerStart[k]!).toBe(N)
    expect(lv.schedule[lv.schedule.length - 1]).toBe(e.id)
    expect(lv.active[x.id]).toBe(1)
    expect(lv.active[k]).toBe(0)
  })
})
