/**
 * THE op table. In: nothing. Out: `OPS`, one entry per op, holding everything any stage needs to
 * know about that op: arity, float64 evaluation, WGSL evaluation (and the WGSL helper functions it
 * calls), its partial derivatives as graph expressions (symbolic rules), its sympy form for the
 * oracle test, and a sampling domain for tests.
 *
 * Every engine evaluates forward graphs only; derivatives are graphs too: reverse mode (autodiff.ts)
 * builds each adjoint from these rules, as a chain of `gmadd` nodes, so a rule written here is the
 * only place an op's derivative exists. Adding an op: one entry here (and a helper file in shaders/
 * where its WGSL needs one); docs/ADDING_AN_OP.md walks through it.
 *
 * Invariants: no other file switches on an op name; the table only grows (registerOp appends);
 * a derivative is a rule `(args, out) => ExprLike` or a number where it is constant (0: structurally
 * zero, the term is left out of every sweep). Kink conventions: relu'(0) = 0, abs'(0) = 0, min/max
 * pass the gradient to the first argument on ties; comparisons and the condition of `where` have
 * derivative 0.
 */
import type { Expr, ExprLike } from './graph.js'

/** Float64 evaluation of an op on its (up to three) arguments. */
export type EvalFn = (a: number, b: number, c: number) => number
/**
 * WGSL emission. `a` holds the WGSL expressions of the arguments (identifiers or literals), `k`
 * their values where the argument is a constant.
 */
export type WgslFn = (a: readonly string[], k: readonly (number | undefined)[]) => string
/** ∂out/∂arg_i as a graph expression, from the argument Exprs and the op's own output Expr. */
export type DerivativeRule = (args: readonly Expr[], out: Expr) => ExprLike
/** A partial derivative: a rule, or the number it always is (0: structurally zero). */
export type Derivative = DerivativeRule | number

export interface OpSpec {
  readonly arity: 1 | 2 | 3
  /** Short description for docs and error messages. */
  readonly doc: string
  readonly eval: EvalFn
  readonly wgsl: WgslFn
  /** derivatives[i] = ∂out/∂arg_i (see Derivative). */
  readonly derivatives: readonly Derivative[]
  /** Helper functions (files in shaders/, by function name; or a custom op's own) the WGSL above calls. */
  readonly helpers?: readonly (HelperName | `op_${string}`)[]
  /** The op in sympy's language over a, b, c (the oracle test differentiates it); none where checked by hand. */
  readonly sympy?: string
  /** Where tests sample each argument: [lo, hi]. */
  readonly domain: readonly (readonly [number, number])[]
  /** Infix symbol in the expression language, if any (unary minus is `neg`). */
  readonly symbol?: string
}

/** WGSL helpers that live in shaders/*.wgsl (one function per file, same name). */
export type HelperName = 'wg_pow' | 'wg_log' | 'wg_atan2' | 'wg_sincos' | 'wg_tan' | 'wg_erf' | 'wg_log1p' | 'wg_expm1' | 'wg_tanh' | 'wg_sinh' | 'wg_sigmoid' | 'wg_min' | 'wg_max'

const TWO_OVER_SQRT_PI = 1.1283791670955126
const SQRT_PI = 1.7724538509055159

/**
 * erf in float64, accurate to a few ulp: a positive series (no cancellation) below 1.5; beyond,
 * 1 - erfc with erfc from its continued fraction, so that erf rounds correctly as it nears ±1 (and
 * stays monotone there) instead of carrying the series' few-ulp error into 1 - 1e-16.
 */
export function erf64(x: number): number {
  if (Number.isNaN(x)) return x
  const ax = Math.abs(x)
  if (ax >= 6) return Math.sign(x)
  const x2 = ax * ax
  if (ax >= 1.5) {
    // erfc x = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), by modified Lentz
    let f = ax
    let c = ax
    let d = 0
    for (let n = 1; n < 500; n++) {
      d = 1 / (ax + (n / 2) * d)
      c = ax + n / 2 / c
      const delta = c * d
      f *= delta
      if (Math.abs(delta - 1) < 1e-16) break
    }
    return Math.sign(x) * (1 - Math.exp(-x2) / (SQRT_PI * f))
  }
  // erf x = 2/√π · e^{-x²} · Σ_{n≥0} 2ⁿ x^{2n+1} / (1·3·…·(2n+1))
  let term = ax
  let sum = ax
  for (let n = 1; n < 400; n++) {
    term *= (2 * x2) / (2 * n + 1)
    sum += term
    if (term < sum * 1e-17) break
  }
  return Math.sign(x) * TWO_OVER_SQRT_PI * Math.exp(-x2) * sum
}

/**
 * f32 literal for a JS number. Some values are built at run time from their bit pattern instead
 * (params.pad is always 0), where a literal would not keep the reference's numbers:
 * - a finite float64 beyond f32's range is ±inf in f32, which WGSL rejects as a constant;
 * - ±0: a compiler may fold `x * 0.0` to 0 (losing x's sign, and NaN for x = ∞) and drop the sign
 *   of a `-0.0` literal (lavapipe did both: 1/(x*0) was +∞ for x < 0);
 * - a subnormal f32, which a compiler may flush to 0.
 */
export function wgslFloat(v: number): string {
  const f = Math.fround(v)
  if (!Number.isFinite(f)) return `bitcast<f32>(${v > 0 ? '0x7f800000u' : '0xff800000u'} | params.pad)`
  if (f === 0 || Math.abs(f) < 2 ** -126) return `bitcast<f32>(0x${(new Uint32Array(new Float32Array([f]).buffer)[0]!).toString(16).padStart(8, '0')}u | params.pad)`
  const s = String(Math.fround(v))
  const t = /[.eE]/.test(s) ? s : `${s}.0`
  // WGSL wants an explicit mantissa digit before an exponent: 1e-7 -> 1.0e-7.
  return t.replace(/^(-?\d+)e/, '$1.0e')
}

/** a^n for a small integer n as repeated multiplication (exact where pow() is not). */
function powiWgsl(a: string, n: number): string {
  if (n === 0) return '1.0'
  const m = Math.abs(n)
  const prod = Array.from({ length: m }, () => a).join(' * ')
  return n > 0 ? `(${prod})` : `(1.0 / (${prod}))`
}

/** a^b with b known to be the constant k: multiplications, sqrt, or the general helper. */
function powWgsl(a: string, b: string, k: number | undefined): string {
  if (k !== undefined && Number.isInteger(k) && Math.abs(k) <= 4) return powiWgsl(a, k)
  if (k === 0.5) return `sqrt(${a})`
  if (k === -0.5) return `(1.0 / sqrt(${a}))`
  return `wg_pow(${a}, ${b})`
}

/** WGSL test `x ≠ 0` that holds for NaN too (on the bits, immune to no-NaN assumptions). */
function nonZero(x: string): string {
  return `((bitcast<u32>(${x}) & 0x7fffffffu) != 0u)`
}

/**
 * An op's derivatives. (Typed through this function, and each rule with its return type written
 * out, so that the table's type does not depend on the rules' bodies: those use Expr's methods,
 * whose types come from the table.)
 */
function d(...derivatives: Derivative[]): readonly Derivative[] {
  return derivatives
}

/** 1/x as a graph expression. */
const recip = (x: Expr): Expr => x.graph.apply('div', [1, x])

/**
 * A comparison op: 1 where it holds, else 0; its derivative is 0 everywhere. The literal arity 2 in
 * the return type is what makes `x.lt(y)` and `lt(x, y)` type-check.
 */
function comparison(symbol: string, test: (a: number, b: number) => boolean, doc: string): OpSpec & { readonly arity: 2 } {
  return {
    arity: 2,
    doc,
    symbol,
    eval: (a, b) => (test(a, b) ? 1 : 0),
    derivatives: d(0, 0),
    // != as "not ==": a software adapter compiled `NaN != x` to false (IEEE says true).
    wgsl: ([a, b]) => (symbol === '!=' ? `select(1.0, 0.0, ${a} == ${b})` : `select(0.0, 1.0, ${a} ${symbol} ${b})`),
    domain: [[-2, 2], [-2, 2]],
  }
}

/**
 * Every op wavegrad knows. Keys are the op names used everywhere (graph nodes, parser function
 * names, Expr method names).
 */
export const OPS = {
  add: {
    arity: 2, doc: 'a + b', symbol: '+', sympy: 'a + b',
    eval: (a, b) => a + b,
    // ∂(a+b)/∂a = 1, ∂(a+b)/∂b = 1
    derivatives: d(1, 1),
    wgsl: ([a, b]) => `(${a} + ${b})`,
    domain: [[-3, 3], [-3, 3]],
  },
  sub: {
    arity: 2, doc: 'a - b', symbol: '-', sympy: 'a - b',
    eval: (a, b) => a - b,
    // ∂(a-b)/∂a = 1, ∂(a-b)/∂b = -1
    derivatives: d(1, -1),
    wgsl: ([a, b]) => `(${a} - ${b})`,
    domain: [[-3, 3], [-3, 3]],
  },
  mul: {
    arity: 2, doc: 'a * b', symbol: '*', sympy: 'a * b',
    eval: (a, b) => a * b,
    // ∂(ab)/∂a = b, ∂(ab)/∂b = a
    derivatives: d(([, b]): ExprLike => b!, ([a]): ExprLike => a!),
    wgsl: ([a, b]) => `(${a} * ${b})`,
    domain: [[-3, 3], [-3, 3]],
  },
  div: {
    arity: 2, doc: 'a / b', symbol: '/', sympy: 'a / b',
    eval: (a, b) => a / b,
    // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b² = -out/b
    derivatives: d(([, b]): ExprLike => recip(b!), ([, b], out): ExprLike => out.neg().div(b!)),
    wgsl: ([a, b]) => `(${a} / ${b})`,
    domain: [[-3, 3], [0.5, 3]],
  },
  neg: {
    arity: 1, doc: '-a', sympy: '-a',
    eval: (a) => -a,
    // ∂(-a)/∂a = -1
    derivatives: d(-1),
    wgsl: ([a]) => `(-${a})`,
    domain: [[-3, 3]],
  },
  pow: {
    arity: 2, doc: 'a ^ b (a < 0 allowed for integer b)', symbol: '^', sympy: 'a ** b',
    eval: (a, b) => Math.pow(a, b),
    derivatives: d(
      // ∂(a^b)/∂a = b·a^(b-1), 0 where b = 0 (a⁰ = 1 for every a); a constant b folds b - 1
      ([a, b]): ExprLike => {
        const k = constantOf(b!)
        if (k !== undefined) return k === 0 ? 0 : a!.pow(k - 1).mul(k)
        return b!.eq(0).where(0, b!.mul(a!.pow(b!.sub(1))))
      },
      // ∂(a^b)/∂b = a^b·ln a, taken as 0 at a = 0 (the limit from a > 0 for b > 0)
      ([a], out): ExprLike => {
        const k = constantOf(a!)
        // (ln k as a node, folded where finite: a negative base keeps log(k), NaN at run time)
        if (k !== undefined) return k === 0 ? 0 : out.mul(out.graph.constant(k).log())
        return a!.eq(0).where(0, out.mul(a!.log()))
      },
    ),
    wgsl: ([a, b], [, k]) => powWgsl(a!, b!, k),
    helpers: ['wg_pow'],
    domain: [[0.2, 3], [-2, 2]],
  },
  sqrt: {
    arity: 1, doc: '√a', sympy: 'sqrt(a)',
    eval: Math.sqrt,
    // d/da √a = 1/(2√a) = 0.5/out
    derivatives: d((_a, out): ExprLike => out.graph.apply('div', [0.5, out])),
    wgsl: ([a]) => `sqrt(${a})`,
    domain: [[0.1, 4]],
  },
  exp: {
    arity: 1, doc: 'eᵃ', sympy: 'exp(a)',
    eval: Math.exp,
    // d/da eᵃ = eᵃ
    derivatives: d((_a, out): ExprLike => out),
    wgsl: ([a]) => `exp(${a})`,
    domain: [[-3, 3]],
  },
  log: {
    arity: 1, doc: 'natural logarithm', sympy: 'log(a)',
    eval: Math.log,
    // d/da ln a = 1/a
    derivatives: d(([a]): ExprLike => recip(a!)),
    wgsl: ([a]) => `wg_log(${a})`,
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  sin: {
    arity: 1, doc: 'sine', sympy: 'sin(a)',
    eval: Math.sin,
    // d/da sin a = cos a
    derivatives: d(([a]): ExprLike => a!.cos()),
    wgsl: ([a]) => `wg_sincos(${a}).x`,
    helpers: ['wg_sincos'],
    domain: [[-3, 3]],
  },
  cos: {
    arity: 1, doc: 'cosine', sympy: 'cos(a)',
    eval: Math.cos,
    // d/da cos a = -sin a
    derivatives: d(([a]): ExprLike => a!.sin().neg()),
    wgsl: ([a]) => `wg_sincos(${a}).y`,
    helpers: ['wg_sincos'],
    domain: [[-3, 3]],
  },
  tan: {
    arity: 1, doc: 'tangent', sympy: 'tan(a)',
    eval: Math.tan,
    // d/da tan a = 1 + tan² a
    derivatives: d((_a, out): ExprLike => out.graph.apply('add', [1, out.mul(out)])),
    wgsl: ([a]) => `wg_tan(${a})`,
    helpers: ['wg_tan', 'wg_sincos'],
    domain: [[-1.2, 1.2]],
  },
  tanh: {
    arity: 1, doc: 'hyperbolic tangent', sympy: 'tanh(a)',
    eval: Math.tanh,
    // d/da tanh a = 1 - tanh² a
    derivatives: d((_a, out): ExprLike => out.graph.apply('sub', [1, out.mul(out)])),
    wgsl: ([a]) => `wg_tanh(${a})`,
    helpers: ['wg_tanh'],
    domain: [[-3, 3]],
  },
  sigmoid: {
    arity: 1, doc: '1 / (1 + e⁻ᵃ)', sympy: '1 / (1 + exp(-a))',
    eval: (a) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))),
    // d/da σ(a) = σ(a)(1 - σ(a))
    derivatives: d((_a, out): ExprLike => out.mul(out.graph.apply('sub', [1, out]))),
    wgsl: ([a]) => `wg_sigmoid(${a})`,
    helpers: ['wg_sigmoid'],
    domain: [[-4, 4]],
  },
  relu: {
    arity: 1, doc: 'max(a, 0)', sympy: 'Max(a, 0)',
    eval: (a) => (a > 0 ? a : a === a ? 0 : a),
    // d/da relu a = [a > 0] (relu'(0) = 0)
    derivatives: d(([a]): ExprLike => a!.gt(0)),
    wgsl: ([a]) => `wg_max(${a}, 0.0)`,
    helpers: ['wg_max'],
    domain: [[-2, 2]],
  },
  abs: {
    arity: 1, doc: '|a|', sympy: 'Abs(a)',
    eval: Math.abs,
    // d/da |a| = sign a = [a > 0] - [a < 0] (0 at 0 and at NaN)
    derivatives: d(([a]): ExprLike => a!.gt(0).sub(a!.lt(0))),
    wgsl: ([a]) => `abs(${a})`,
    domain: [[-2, 2]],
  },
  min: {
    arity: 2, doc: 'smaller of a and b (NaN if either is)', sympy: 'Min(a, b)',
    eval: (a, b) => (a <= b ? a : b < a ? b : a + b),
    // ∂min/∂a = [a ≤ b] (ties go to a), ∂min/∂b = [not a ≤ b]
    derivatives: d(([a, b]): ExprLike => a!.le(b!), ([a, b]): ExprLike => a!.le(b!).where(0, 1)),
    wgsl: ([a, b]) => `wg_min(${a}, ${b})`,
    helpers: ['wg_min'],
    domain: [[-2, 2], [-2, 2]],
  },
  max: {
    arity: 2, doc: 'larger of a and b (NaN if either is)', sympy: 'Max(a, b)',
    eval: (a, b) => (a >= b ? a : b > a ? b : a + b),
    // ∂max/∂a = [a ≥ b] (ties go to a), ∂max/∂b = [not a ≥ b]
    derivatives: d(([a, b]): ExprLike => a!.ge(b!), ([a, b]): ExprLike => a!.ge(b!).where(0, 1)),
    wgsl: ([a, b]) => `wg_max(${a}, ${b})`,
    helpers: ['wg_max'],
    domain: [[-2, 2], [-2, 2]],
  },
  atan2: {
    arity: 2, doc: 'angle of the point (x = b, y = a)', sympy: 'atan2(a, b)',
    eval: Math.atan2,
    // ∂atan2(a,b)/∂a = b/(a²+b²), ∂atan2(a,b)/∂b = -a/(a²+b²)
    derivatives: d(([a, b]): ExprLike => b!.div(a!.mul(a!).add(b!.mul(b!))), ([a, b]): ExprLike => a!.neg().div(a!.mul(a!).add(b!.mul(b!)))),
    wgsl: ([a, b]) => `wg_atan2(${a}, ${b})`,
    helpers: ['wg_atan2'],
    domain: [[-2, 2], [0.3, 2]],
  },
  atan: {
    arity: 1, doc: 'arc tangent', sympy: 'atan(a)',
    eval: Math.atan,
    // d/da atan a = 1/(1 + a²)
    derivatives: d(([a]): ExprLike => recip(a!.graph.apply('add', [1, a!.mul(a!)]))),
    wgsl: ([a]) => `atan(${a})`,
    domain: [[-3, 3]],
  },
  asin: {
    arity: 1, doc: 'arc sine', sympy: 'asin(a)',
    eval: Math.asin,
    // d/da asin a = 1/√(1 - a²)
    derivatives: d(([a]): ExprLike => recip(a!.graph.apply('sub', [1, a!.mul(a!)]).sqrt())),
    // As atan2: one adapter's asin builtin was off by 4e-4 (WGSL allows it), its atan2 is not.
    wgsl: ([a]) => `atan2(${a}, sqrt((1.0 - ${a}) * (1.0 + ${a})))`,
    domain: [[-0.9, 0.9]],
  },
  acos: {
    arity: 1, doc: 'arc cosine', sympy: 'acos(a)',
    eval: Math.acos,
    // d/da acos a = -1/√(1 - a²)
    derivatives: d(([a]): ExprLike => a!.graph.apply('div', [-1, a!.graph.apply('sub', [1, a!.mul(a!)]).sqrt()])),
    // As atan2, for the accuracy reason given at asin.
    wgsl: ([a]) => `atan2(sqrt((1.0 - ${a}) * (1.0 + ${a})), ${a})`,
    domain: [[-0.9, 0.9]],
  },
  sinh: {
    arity: 1, doc: 'hyperbolic sine', sympy: 'sinh(a)',
    eval: Math.sinh,
    // d/da sinh a = cosh a
    derivatives: d(([a]): ExprLike => a!.cosh()),
    wgsl: ([a]) => `wg_sinh(${a})`,
    helpers: ['wg_sinh'],
    domain: [[-3, 3]],
  },
  cosh: {
    arity: 1, doc: 'hyperbolic cosine', sympy: 'cosh(a)',
    eval: Math.cosh,
    // d/da cosh a = sinh a
    derivatives: d(([a]): ExprLike => a!.sinh()),
    wgsl: ([a]) => `cosh(${a})`,
    domain: [[-3, 3]],
  },
  exp2: {
    arity: 1, doc: '2ᵃ', sympy: '2**a',
    eval: (a) => Math.pow(2, a),
    // d/da 2ᵃ = 2ᵃ ln 2
    derivatives: d((_a, out): ExprLike => out.mul(Math.LN2)),
    wgsl: ([a]) => `exp2(${a})`,
    domain: [[-3, 3]],
  },
  log2: {
    arity: 1, doc: 'base-2 logarithm', sympy: 'log(a, 2)',
    eval: Math.log2,
    // d/da log₂ a = 1/(a ln 2)
    derivatives: d(([a]): ExprLike => recip(a!.mul(Math.LN2))),
    // WGSL's log2 is undefined at a <= 0: there wg_log gives -inf / NaN (scaling keeps them).
    wgsl: ([a]) => `select(log2(${a}), wg_log(${a}), ${a} <= 0.0)`,
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  log10: {
    arity: 1, doc: 'base-10 logarithm', sympy: 'log(a, 10)',
    eval: Math.log10,
    // d/da log₁₀ a = 1/(a ln 10)
    derivatives: d(([a]): ExprLike => recip(a!.mul(Math.LN10))),
    wgsl: ([a]) => `(wg_log(${a}) * 0.4342944819032518)`,
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  erf: {
    arity: 1, doc: 'error function', sympy: 'erf(a)',
    eval: erf64,
    // d/da erf a = 2/√π · e^{-a²}
    derivatives: d(([a]): ExprLike => a!.graph.apply('mul', [TWO_OVER_SQRT_PI, a!.neg().mul(a!).exp()])),
    wgsl: ([a]) => `wg_erf(${a})`,
    helpers: ['wg_erf'],
    domain: [[-2.5, 2.5]],
  },
  log1p: {
    arity: 1, doc: 'ln(1 + a), accurate near 0', sympy: 'log(1 + a)',
    eval: Math.log1p,
    // d/da ln(1+a) = 1/(1+a)
    derivatives: d(([a]): ExprLike => recip(a!.graph.apply('add', [1, a!]))),
    wgsl: ([a]) => `wg_log1p(${a})`,
    helpers: ['wg_log1p', 'wg_log'],
    domain: [[-0.5, 3]],
  },
  expm1: {
    arity: 1, doc: 'eᵃ - 1, accurate near 0', sympy: 'exp(a) - 1',
    eval: Math.expm1,
    // d/da (eᵃ - 1) = eᵃ = out + 1
    derivatives: d((_a, out): ExprLike => out.add(1)),
    wgsl: ([a]) => `wg_expm1(${a})`,
    helpers: ['wg_expm1'],
    domain: [[-2, 2]],
  },
  where: {
    arity: 3, doc: 'b where cond ≠ 0, else c',
    eval: (c, a, b) => (c !== 0 ? a : b),
    // ∂/∂cond = 0; ∂/∂a = [cond ≠ 0]; ∂/∂b = [cond = 0]
    derivatives: d(0, ([c]): ExprLike => c!.where(1, 0), ([c]): ExprLike => c!.where(0, 1)),
    // cond ≠ 0 tested on the bits (any non-zero pattern, NaN included, is true, as in JS): a
    // software adapter compiled `NaN != 0.0` to false.
    wgsl: ([c, a, b]) => `select(${b}, ${a}, ${nonZero(c!)})`,
    domain: [[0, 1], [-2, 2], [-2, 2]],
  },
  lt: comparison('<', (a, b) => a < b, 'a < b as 1 or 0'),
  le: comparison('<=', (a, b) => a <= b, 'a <= b as 1 or 0'),
  gt: comparison('>', (a, b) => a > b, 'a > b as 1 or 0'),
  ge: comparison('>=', (a, b) => a >= b, 'a >= b as 1 or 0'),
  eq: comparison('==', (a, b) => a === b, 'a == b as 1 or 0'),
  ne: comparison('!=', (a, b) => a !== b, 'a != b as 1 or 0'),
  gmadd: {
    arity: 3, doc: 'acc + g·p, where g = 0 adds nothing (even through an infinite or NaN p): one term of a derivative sum', sympy: 'a + b * c',
    // The zero-adjoint rule, written once: every reverse sweep (autodiff.ts) sums an adjoint as a
    // chain of these, so an untaken `where` branch or a masked NaN never poisons a gradient.
    eval: (acc, g, p) => (g === 0 ? acc : acc + g * p),
    // ∂/∂acc = 1, ∂/∂g = p, ∂/∂p = g
    derivatives: d(1, ([, , p]): ExprLike => p!, ([, g]): ExprLike => g!),
    wgsl: ([acc, g, p], [kacc, kg, kp]) => {
      // Constants as f32 sees them: a g that is a finite non-zero f32 needs no guard (one that
      // rounds to 0 adds nothing); nor does a finite f32 p (g = 0 times it is 0). A zero p is read at
      // run time (params.pad is 0), or a compiler would fold g * 0.0 to 0 where g = ∞ must give
      // NaN, as in every engine. A constant beyond f32's range keeps the guard.
      const fg = kg === undefined ? NaN : Math.fround(kg)
      const fp = kp === undefined ? NaN : Math.fround(kp)
      const sum = (product: string) => (kacc === 0 ? `(${product})` : `(${acc} + ${product})`)
      if (fg === 0) return acc!
      if (Number.isFinite(fg)) return sum(`${g} * ${p}`)
      const product = fp === 0 ? `${g} * bitcast<f32>(params.pad)` : `${g} * ${p}`
      if (Number.isFinite(fp)) return sum(product)
      return `select(${kacc === 0 ? '' : `${acc} + `}${product}, ${kacc === 0 ? '0.0' : acc}, ${g} == 0.0)`
    },
    domain: [[-2, 2], [-2, 2], [-2, 2]],
  },
} as const satisfies Record<string, OpSpec>

/** The name of a computing op (every key of OPS). */
export type OpName = keyof typeof OPS

/** Names of all ops, in table order (custom ops, registered with registerOp, at the end). */
export const OP_NAMES = Object.keys(OPS) as OpName[]

/** The ops every copy of this module has (a worker thread's too): custom ops are not among them. */
export const BUILTIN_OPS: ReadonlySet<string> = new Set(OP_NAMES)

/** Position of each op in OP_NAMES (the interpreter's opcode). */
const OP_INDEX = new Map<string, number>(OP_NAMES.map((n, i) => [n, i]))

/** The op's position in OP_NAMES. */
export function opIndex(name: OpName): number {
  return OP_INDEX.get(name)!
}

/** WGSL source of custom ops' helper functions, by helper name (see addOp). */
export const CUSTOM_HELPERS = new Map<string, string>()

/**
 * Adds an op to the table (custom.ts registerOp checks it first): OPS, OP_NAMES, and `helperSource`
 * (WGSL functions its formulas call, under the name `helperName`).
 */
export function addOp(name: string, spec: OpSpec, helperName?: string, helperSource?: string): void {
  ;(OPS as unknown as Record<string, OpSpec>)[name] = spec
  ;(OP_NAMES as string[]).push(name)
  OP_INDEX.set(name, OP_NAMES.length - 1)
  if (helperName && helperSource !== undefined) CUSTOM_HELPERS.set(helperName, helperSource)
}

/** The table entry of an op name, typed as the general OpSpec. */
export function opSpec(name: OpName): OpSpec {
  return OPS[name]
}

/** True if `name` is an op of the table (guards parser and deserialisation input). */
export function isOpName(name: string): name is OpName {
  return Object.prototype.hasOwnProperty.call(OPS, name)
}

/** The value of a constant node (or the number itself), else undefined. */
export function constantOf(t: ExprLike): number | undefined {
  if (typeof t === 'number') return t
  return t.kind === 'const' ? t.graph.constValue(t.id) : undefined
}
