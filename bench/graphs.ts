/**
 * Benchmark graphs: deterministic smooth graphs of about N nodes (4 inputs, 2 outputs), shaped like
 * real work: each new node combines recent nodes (depth grows like a network's layers), with the
 * same op mix at every size so sizes compare. Every node is live; the bench reports the count.
 */
import { Graph, type Expr } from '../src/index.js'

/** The benches' seeded generator (a 32-bit linear congruential one): uniform numbers in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 4294967296
  }
}

/** One Float32Array of `size` numbers in [lo, hi) per name, drawn in turn from one lcg(seed). */
export function benchInputs(names: readonly string[], size: number, seed = 12345, lo = -2, hi = 2): Float32Array<ArrayBuffer>[] {
  const next = lcg(seed)
  return names.map(() => Float32Array.from({ length: size }, () => lo + (hi - lo) * next()))
}

export function benchGraph(target: number, seed = 1): Graph {
  const next = lcg(seed)
  const g = new Graph()
  const pool: Expr[] = ['x0', 'x1', 'x2', 'x3'].map((n) => g.input(n))
  const pick = () => pool[pool.length - 1 - Math.floor(next() * Math.min(pool.length, 12))]!
  const makers: ((a: Expr, b: Expr) => Expr)[] = [
    (a, b) => a.add(b),
    (a, b) => a.mul(b.tanh()),
    (a, b) => a.sub(b.mul(0.5)),
    (a) => a.sin(),
    (a, b) => a.mul(0.75).add(b.cos()),
    (a) => a.sigmoid(),
  ]
  const used = new Set<Expr>()
  const pickUsed = () => {
    const e = pick()
    used.add(e)
    return e
  }
  while (g.nodeCount < target) pool.push(makers[Math.floor(next() * makers.length)]!(pickUsed(), pickUsed()))
  // Every node is live: h sums what nothing else consumed, f is the last node.
  const last = pool[pool.length - 1]!
  const loose = pool.slice(4, -1).filter((e) => !used.has(e))
  g.output('f', last)
  g.output('h', loose.reduce<Expr>((acc, e) => acc.add(e), last.mul(0.5)))
  return g
}
