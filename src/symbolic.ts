/**
 * Symbolic derivatives: every op's partial derivatives as graph expressions. In: a Graph, an op's
 * argument Exprs and its own output Expr (all of that graph). Out: ∂out/∂arg_i per argument, as an
 * Expr of the same graph or a number (0 is a structural zero: the term is left out).
 *
 * Invariants: evaluated on the same numbers, each symbolic partial equals OPS[op].partials (the
 * engines' numeric partials) — the same formula in the same float64 operations where possible, and
 * the same conventions at kinks (relu'(0) = 0, abs'(0) = 0, min/max ties to the first argument,
 * pow's special cases, where's branches [cond ≠ 0] / [cond = 0], comparisons 0). A test samples
 * every op of OP_NAMES on its domain and at awkward points so this table cannot drift from ops.ts.
 * Also here: the small term algebra (Term = Expr | number) the transformations build with, which
 * drops structural zeros and ones before they reach the graph.
 */
import { GraphError } from './errors.js'
import type { Expr, Graph } from './graph.js'
import type { OpName } from './ops.js'

/** A symbolic quantity: an Expr, or a number known at build time (0 = structurally zero). */
export type Term = Expr | number

/** ∂out/∂arg_i for each argument, built in `g` from the argument Exprs and the op's own output. */
export type SymbolicPartials = (g: Graph, args: readonly Expr[], out: Expr) => readonly Term[]

export interface SymbolicRule {
  readonly partials: SymbolicPartials
  /**
   * True where a partial can be infinite or NaN at finite arguments (1/b at b = 0, √ at 0, log at
   * 0, ...). The transformations mask 0 · ∞ on such edges to mirror the engines' zero-adjoint rule.
   */
  readonly singular?: true
}

const LN2 = Math.LN2
const LN10 = Math.LN10
const TWO_OVER_SQRT_PI = 1.1283791670955126

const ZERO2: SymbolicRule = { partials: () => [0, 0] }

/** The rule of an op; a GraphError for a custom op registered without `derivatives`. */
export function ruleOf(op: OpName): SymbolicRule {
  const rule = (DERIVATIVES as Partial<Record<string, SymbolicRule>>)[op]
  if (!rule) throw new GraphError(`op '${op}' has no symbolic derivatives (register it with registerOp(..., { derivatives }) to use it in gradientGraph, jvp, hvp or hessian)`)
  return rule
}

/**
 * One rule per op of the table (the Record type makes a missing op a compile error).
 *
 * @example
 * const g = new Graph(); const x = g.input('x'); const y = x.sin()
 * const [dy] = DERIVATIVES.sin.partials(g, [x], y)    // the Expr cos(x)
 */
export const DERIVATIVES: Readonly<Record<OpName, SymbolicRule>> = {
  // ∂(a+b)/∂a = 1, ∂(a+b)/∂b = 1
  add: { partials: () => [1, 1] },
  // ∂(a-b)/∂a = 1, ∂(a-b)/∂b = -1
  sub: { partials: () => [1, -1] },
  // ∂(ab)/∂a = b, ∂(ab)/∂b = a
  mul: { partials: (_g, [a, b]) => [b!, a!] },
  // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -out/b
  div: { partials: (g, [, b], out) => [g.apply('div', [1, b!]), out.neg().div(b!)], singular: true },
  // ∂(-a)/∂a = -1
  neg: { partials: () => [-1] },
  // ∂(a^b)/∂a = b·a^(b-1) (0 where b = 0); ∂(a^b)/∂b = a^b·ln a (0 where a = 0)
  pow: {
    partials: (g, [a, b], out) => {
      const kb = constantOf(b!)
      const da = kb !== undefined ? (kb === 0 ? 0 : g.apply('mul', [kb, a!.pow(kb - 1)])) : b!.eq(0).where(0, b!.mul(a!.pow(b!.sub(1))))
      const ka = constantOf(a!)
      const db = ka !== undefined ? (ka === 0 ? 0 : out.mul(g.constant(ka).log())) : a!.eq(0).where(0, out.mul(a!.log()))
      return [da, db]
    },
    singular: true,
  },
  // d/da √a = 1/(2√a) = 0.5/out
  sqrt: { partials: (g, _a, out) => [g.apply('div', [0.5, out])], singular: true },
  // d/da eᵃ = eᵃ
  exp: { partials: (_g, _a, out) => [out] },
  // d/da ln a = 1/a
  log: { partials: (g, [a]) => [g.apply('div', [1, a!])], singular: true },
  // d/da sin a = cos a
  sin: { partials: (_g, [a]) => [a!.cos()] },
  // d/da cos a = -sin a
  cos: { partials: (_g, [a]) => [a!.sin().neg()] },
  // d/da tan a = 1 + tan² a
  tan: { partials: (g, _a, out) => [g.apply('add', [1, out.mul(out)])] },
  // d/da tanh a = 1 - tanh² a
  tanh: { partials: (g, _a, out) => [g.apply('sub', [1, out.mul(out)])] },
  // d/da σ(a) = σ(a)(1 - σ(a))
  sigmoid: { partials: (g, _a, out) => [out.mul(g.apply('sub', [1, out]))] },
  // d/da relu a = [a > 0]
  relu: { partials: (_g, [a]) => [a!.gt(0)] },
  // d/da |a| = [a > 0] - [a < 0] (0 at 0 and at NaN)
  abs: { partials: (_g, [a]) => [a!.gt(0).sub(a!.lt(0))] },
  // ∂min/∂a = [a ≤ b] (ties to a), ∂min/∂b = [not a ≤ b]
  min: { partials: (_g, [a, b]) => [a!.le(b!), a!.le(b!).where(0, 1)] },
  // ∂max/∂a = [a ≥ b] (ties to a), ∂max/∂b = [not a ≥ b]
  max: { partials: (_g, [a, b]) => [a!.ge(b!), a!.ge(b!).where(0, 1)] },
  // ∂atan2(a,b)/∂a = b/(a²+b²), ∂atan2(a,b)/∂b = -a/(a²+b²)
  atan2: {
    partials: (_g, [a, b]) => {
      const r2 = a!.mul(a!).add(b!.mul(b!))
      return [b!.div(r2), a!.neg().div(r2)]
    },
    singular: true,
  },
  // d/da atan a = 1/(1 + a²)
  atan: { partials: (g, [a]) => [g.apply('div', [1, g.apply('add', [1, a!.mul(a!)])])] },
  // d/da asin a = 1/√(1 - a²)
  asin: { partials: (g, [a]) => [g.apply('div', [1, g.apply('sub', [1, a!.mul(a!)]).sqrt()])], singular: true },
  // d/da acos a = -1/√(1 - a²)
  acos: { partials: (g, [a]) => [g.apply('div', [-1, g.apply('sub', [1, a!.mul(a!)]).sqrt()])], singular: true },
  // d/da sinh a = cosh a
  sinh: { partials: (_g, [a]) => [a!.cosh()] },
  // d/da cosh a = sinh a
  cosh: { partials: (_g, [a]) => [a!.sinh()] },
  // d/da 2ᵃ = 2ᵃ ln 2
  exp2: { partials: (_g, _a, out) => [out.mul(LN2)] },
  // d/da log₂ a = 1/(a ln 2)
  log2: { partials: (g, [a]) => [g.apply('div', [1, a!.mul(LN2)])], singular: true },
  // d/da log₁₀ a = 1/(a ln 10)
  log10: { partials: (g, [a]) => [g.apply('div', [1, a!.mul(LN10)])], singular: true },
  // d/da erf a = 2/√π · e^{-a²}
  erf: { partials: (g, [a]) => [g.apply('mul', [TWO_OVER_SQRT_PI, a!.neg().mul(a!).exp()])] },
  // d/da ln(1+a) = 1/(1+a)
  log1p: { partials: (g, [a]) => [g.apply('div', [1, g.apply('add', [1, a!])])], singular: true },
  // d/da (eᵃ - 1) = out + 1
  expm1: { partials: (_g, _a, out) => [out.add(1)] },
  // ∂/∂cond = 0; ∂/∂a = [cond ≠ 0]; ∂/∂b = [cond = 0]
  where: { partials: (_g, [c]) => [0, c!.where(1, 0), c!.where(0, 1)] },
  lt: ZERO2,
  le: ZERO2,
  gt: ZERO2,
  ge: ZERO2,
  eq: ZERO2,
  ne: ZERO2,
}

/**
 * The value of a constant node (or the number itself), else undefined.
 *
 * @example
 * constantOf(g.constant(2))   // 2;  constantOf(x) // undefined
 */
export function constantOf(t: Term): number | undefined {
  if (typeof t === 'number') return t
  return t.kind === 'const' ? t.graph.constValue(t.id) : undefined
}

/** A Term with constant nodes read back as numbers (so 0 and 1 are recognised). */
function norm(t: Term): Term {
  return constantOf(t) ?? t
}

/**
 * a + b, dropping structural zeros.
 *
 * @example
 * addTerms(g, 0, x) === x   // no node added
 */
export function addTerms(g: Graph, a: Term, b: Term): Term {
  const x = norm(a)
  const y = norm(b)
  if (x === 0) return y
  if (y === 0) return x
  if (typeof x === 'number' && typeof y === 'number') return x + y
  return g.apply('add', [x, y])
}

/**
 * a · b; 0 when either is a structural zero, the other when one is 1, a negation for -1.
 *
 * @example
 * mulTerms(g, x, -1)   // the Expr -x;  mulTerms(g, x, 0) // 0
 */
export function mulTerms(g: Graph, a: Term, b: Term): Term {
  const x = norm(a)
  const y = norm(b)
  if (x === 0 || y === 0) return 0
  if (x === 1) return y
  if (y === 1) return x
  if (typeof x === 'number' && typeof y === 'number') return x * y
  if (x === -1) return g.apply('neg', [y])
  if (y === -1) return g.apply('neg', [x])
  return g.apply('mul', [x, y])
}

/** The largest finite float32: what "finite" means on a GPU as well as in float64 (see guardedProduct). */
const FINITE_BOUND = 3.4028234663852886e38

/**
 * w · s, except that it is 0 where w = 0 and s is not finite: the engines' rule that a zero adjoint
 * contributes 0 even through an infinite partial, as an expression. Where s is finite, or w ≠ 0,
 * it is w · s with the derivatives of w · s (so second derivatives stay right): the mask only
 * replaces s by 0 where w = 0 and |s| > FLT_MAX, and there w · s is 0 for any finite s anyway.
 * As an expression: w · where(|s| ≤ FLT_MAX, s, where(w, s, 0)).
 *
 * @example
 * guardedProduct(g, adj, g.apply('div', [0.5, sqrtX]))   // 0 where adj = 0, even at √x = 0
 */
export function guardedProduct(g: Graph, w: Term, s: Term): Term {
  const x = norm(w)
  const y = norm(s)
  if (typeof x === 'number' || typeof y === 'number') return mulTerms(g, x, y)
  return g.apply('mul', [x, y.abs().le(FINITE_BOUND).where(y, x.where(y, 0))])
}
