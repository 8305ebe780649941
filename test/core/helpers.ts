/**
 * Test helpers for the core suite: a seeded PRNG, tolerant comparisons, finite differences, and a
 * random smooth DAG that is built twice at once — as a wavegrad Graph and as plain JS closures over
 * Math — so the closures are an oracle independent of the op table.
 */
import { expect } from 'vitest'
import { evaluateCpu, Graph, OPS, type Expr, type OpName, type OpSpec } from '../../src/index.js'

/** mulberry32: a small seeded PRNG in [0, 1) (the library's own, shared with the CLI). */
export { mulberry32 as rng } from '../../src/util/random.js'

/** Uniform in [lo, hi] from a PRNG. */
export function uniform(r: () => number, lo: number, hi: number): number {
  return lo + (hi - lo) * r()
}

/** |actual - expected| <= rel * max(1, |expected|) (relative for large numbers, absolute near 0). */
export function expectClose(actual: number, expected: number, rel: number, what = ''): void {
  const tol = rel * Math.max(1, Math.abs(expected))
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`${what}: expected ${expected}, got ${actual} (diff ${Math.abs(actual - expected)}, tol ${tol})`)
  }
}

/** Fourth-order central difference of f at x (error O(h⁴)). */
export function centralDiff4(f: (x: number) => number, x: number, h: number): number {
  return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)
}

/** Second-order central difference of f at x. */
export function centralDiff(f: (x: number) => number, x: number, h: number): number {
  return (f(x + h) - f(x - h)) / (2 * h)
}

/**
 * An op's partial derivatives at `points` (one number per argument each), from its derivative
 * rules: built as a graph over inputs a, b, c and evaluated by the reference (float64).
 */
export function partialsAt(name: OpName, points: readonly (readonly number[])[]): number[][] {
  const spec: OpSpec = OPS[name]
  const g = new Graph()
  const names = ['a', 'b', 'c'].slice(0, spec.arity)
  const xs = names.map((n) => g.input(n))
  const node = g.apply(name, xs)
  g.output('value', node)
  spec.derivatives.forEach((d, i) => g.output(`p${i}`, typeof d === 'number' ? d : d(xs, node)))
  const r = evaluateCpu(g, Object.fromEntries(names.map((n, i) => [n, points.map((p) => p[i]!)])), { jacobian: false })
  return points.map((_, k) => spec.derivatives.map((_, i) => r.values[`p${i}`]![k]!))
}

/** Reads element i of a typed array, failing loudly when out of range. */
export function at(a: ArrayLike<number> | undefined, i: number): number {
  if (a === undefined) return expect.fail('array is undefined')
  if (i < 0 || i >= a.length) return expect.fail(`index ${i} outside length ${a.length}`)
  return a[i]!
}

/** A node of the random smooth DAG: the Expr and the same function as a JS closure. */
export interface Twin {
  readonly expr: Expr
  readonly f: (xs: readonly number[]) => number
}

/**
 * One step of a random DAG: `op` picks the construction, `a`/`b` pick earlier nodes (mod pool size).
 * Every construction is smooth and keeps values bounded for inputs in [-2, 2].
 */
export interface Step {
  readonly op: number
  readonly a: number
  readonly b: number
}

type Unary = (e: Expr) => Expr
type Binary = (e: Expr, f: Expr) => Expr
const sig = (v: number) => 1 / (1 + Math.exp(-v))

/** Smooth constructions, each as [graph builder, closure]. Bounded output for bounded input. */
const SMOOTH: readonly (
  | { readonly arity: 1; readonly g: Unary; readonly f: (v: number) => number }
  | { readonly arity: 2; readonly g: Binary; readonly f: (v: number, w: number) => number }
)[] = [
  { arity: 1, g: (e) => e.sin(), f: Math.sin },
  { arity: 1, g: (e) => e.cos(), f: Math.cos },
  { arity: 1, g: (e) => e.tanh(), f: Math.tanh },
  { arity: 1, g: (e) => e.sigmoid(), f: sig },
  { arity: 1, g: (e) => e.sin().exp(), f: (v) => Math.exp(Math.sin(v)) },
  { arity: 1, g: (e) => e.mul(e).add(1).log(), f: (v) => Math.log(v * v + 1) },
  { arity: 1, g: (e) => e.mul(e).add(1).sqrt(), f: (v) => Math.sqrt(v * v + 1) },
  { arity: 1, g: (e) => e.neg(), f: (v) => -v },
  { arity: 1, g: (e) => e.tanh().expm1(), f: (v) => Math.expm1(Math.tanh(v)) },
  { arity: 1, g: (e) => e.mul(e).log1p(), f: (v) => Math.log1p(v * v) },
  { arity: 1, g: (e) => e.sin().add(2).pow(1.5), f: (v) => Math.pow(Math.sin(v) + 2, 1.5) },
  { arity: 1, g: (e) => e.mul(e).add(1).pow(-1), f: (v) => 1 / (v * v + 1) },
  { arity: 2, g: (e, f) => e.add(f).mul(0.5), f: (v, w) => (v + w) * 0.5 },
  { arity: 2, g: (e, f) => e.sub(f).mul(0.5), f: (v, w) => (v - w) * 0.5 },
  { arity: 2, g: (e, f) => e.mul(f.tanh()), f: (v, w) => v * Math.tanh(w) },
  { arity: 2, g: (e, f) => e.div(f.mul(f).add(1)), f: (v, w) => v / (w * w + 1) },
  { arity: 2, g: (e, f) => e.atan2(f.mul(f).add(1)), f: (v, w) => Math.atan2(v, w * w + 1) },
  { arity: 2, g: (e, f) => e.mul(e).add(1).pow(f.sin()), f: (v, w) => Math.pow(v * v + 1, Math.sin(w)) },
  { arity: 2, g: (e, f) => e.mul(f), f: (v, w) => v * w },
]

/** Number of smooth constructions (for generators). */
export const SMOOTH_COUNT = SMOOTH.length

/**
 * Builds a random smooth DAG on `g`: `inputNames` become inputs, then each step appends one node.
 * Returns the pool (inputs first, then one twin per step).
 */
export function buildSmoothDag(g: Graph, inputNames: readonly string[], steps: readonly Step[]): Twin[] {
  const pool: Twin[] = inputNames.map((name, i) => ({ expr: g.input(name), f: (xs) => xs[i]! }))
  for (const s of steps) {
    const c = SMOOTH[s.op % SMOOTH.length]!
    const x = pool[s.a % pool.length]!
    const y = pool[s.b % pool.length]!
    if (c.arity === 1) {
      const fx = x.f
      const h = c.f
      pool.push({ expr: c.g(x.expr), f: (xs) => h(fx(xs)) })
    } else {
      const fx = x.f
      const fy = y.f
      const h = c.f
      pool.push({ expr: c.g(x.expr, y.expr), f: (xs) => h(fx(xs), fy(xs)) })
    }
  }
  return pool
}
