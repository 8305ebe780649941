/**
 * THE op table. In: nothing. Out: `OPS`, one entry per op, holding everything any stage needs to
 * know about that op: arity, float64 evaluation, partial derivatives, WGSL value and WGSL partials,
 * the WGSL helper functions those use, and a sampling domain for tests.
 *
 * Invariants: no other file switches on an op name; adding an op touches only this table (and its
 * tests), or, at run time, registerOp (custom.ts) appends one; the table only grows. The JS formulas drive the CPU reference, the WGSL formulas the GPU; tests tie them together
 * (finite differences, CPU vs GPU).
 *
 * Kink conventions: relu'(0) = 0, abs'(0) = 0, min/max pass the gradient to the first argument on
 * ties; comparisons and the condition of `where` have derivative 0.
 */

/** Float64 evaluation of an op on its (up to three) arguments. */
export type EvalFn = (a: number, b: number, c: number) => number
/** One partial derivative ∂out/∂arg_i, given the arguments and the op's own output value. */
export type PartialFn = (a: number, b: number, c: number, out: number) => number
/**
 * WGSL emission. `a` holds the WGSL expressions of the arguments (already simple identifiers or
 * literals), `k` their values where the argument is a constant, `out` the identifier of the op's
 * own value (partials may reuse it).
 */
export type WgslFn = (a: readonly string[], k: readonly (number | undefined)[], out: string) => string

export interface OpSpec {
  readonly arity: 1 | 2 | 3
  /** Short description for docs and error messages. */
  readonly doc: string
  readonly eval: EvalFn
  /** partials[i] = ∂out/∂arg_i. */
  readonly partials: readonly PartialFn[]
  readonly wgsl: WgslFn
  /** wgslPartials[i] = ∂out/∂arg_i as a WGSL f32 expression. */
  readonly wgslPartials: readonly WgslFn[]
  /** Helper functions (files in shaders/, by function name; or a custom op's own) the WGSL above calls. */
  readonly helpers?: readonly (HelperName | `op_${string}`)[]
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
 * f32 literal for a JS number. A finite float64 beyond f32's range is ±inf in f32, which WGSL
 * rejects as a constant: it is built at run time from its bit pattern (params.pad is always 0).
 */
export function wgslFloat(v: number): string {
  if (Object.is(v, -0)) return '-0.0'
  if (!Number.isFinite(Math.fround(v))) return `bitcast<f32>(${v > 0 ? '0x7f800000u' : '0xff800000u'} | params.pad)`
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

const ZERO: PartialFn = () => 0
const ONE: PartialFn = () => 1
const W0: WgslFn = () => '0.0'
const W1: WgslFn = () => '1.0'

/** WGSL test `x ≠ 0` that holds for NaN too (on the bits, immune to no-NaN assumptions). */
function nonZero(x: string): string {
  return `((bitcast<u32>(${x}) & 0x7fffffffu) != 0u)`
}

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
    partials: [ZERO, ZERO],
    // != as "not ==": a software adapter compiled `NaN != x` to false (IEEE says true).
    wgsl: ([a, b]) => (symbol === '!=' ? `select(1.0, 0.0, ${a} == ${b})` : `select(0.0, 1.0, ${a} ${symbol} ${b})`),
    wgslPartials: [W0, W0],
    domain: [[-2, 2], [-2, 2]],
  }
}

/**
 * Every op wavegrad knows. Keys are the op names used everywhere (graph nodes, parser function
 * names, Expr method names).
 */
export const OPS = {
  add: {
    arity: 2, doc: 'a + b', symbol: '+',
    eval: (a, b) => a + b,
    // ∂(a+b)/∂a = 1, ∂(a+b)/∂b = 1
    partials: [ONE, ONE],
    wgsl: ([a, b]) => `(${a} + ${b})`,
    wgslPartials: [W1, W1],
    domain: [[-3, 3], [-3, 3]],
  },
  sub: {
    arity: 2, doc: 'a - b', symbol: '-',
    eval: (a, b) => a - b,
    // ∂(a-b)/∂a = 1, ∂(a-b)/∂b = -1
    partials: [ONE, () => -1],
    wgsl: ([a, b]) => `(${a} - ${b})`,
    wgslPartials: [W1, () => '-1.0'],
    domain: [[-3, 3], [-3, 3]],
  },
  mul: {
    arity: 2, doc: 'a * b', symbol: '*',
    eval: (a, b) => a * b,
    // ∂(ab)/∂a = b, ∂(ab)/∂b = a
    partials: [(_a, b) => b, (a) => a],
    wgsl: ([a, b]) => `(${a} * ${b})`,
    wgslPartials: [([, b]) => `${b}`, ([a]) => `${a}`],
    domain: [[-3, 3], [-3, 3]],
  },
  div: {
    arity: 2, doc: 'a / b', symbol: '/',
    eval: (a, b) => a / b,
    // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = -a/b² = -out/b
    partials: [(_a, b) => 1 / b, (_a, b, _c, out) => -out / b],
    wgsl: ([a, b]) => `(${a} / ${b})`,
    wgslPartials: [([, b]) => `(1.0 / ${b})`, ([, b], _k, out) => `(-${out} / ${b})`],
    domain: [[-3, 3], [0.5, 3]],
  },
  neg: {
    arity: 1, doc: '-a',
    eval: (a) => -a,
    // ∂(-a)/∂a = -1
    partials: [() => -1],
    wgsl: ([a]) => `(-${a})`,
    wgslPartials: [() => '-1.0'],
    domain: [[-3, 3]],
  },
  pow: {
    arity: 2, doc: 'a ^ b (a < 0 allowed for integer b)', symbol: '^',
    eval: (a, b) => Math.pow(a, b),
    partials: [
      // ∂(a^b)/∂a = b·a^(b-1)
      (a, b) => (b === 0 ? 0 : b * Math.pow(a, b - 1)),
      // ∂(a^b)/∂b = a^b·ln a, taken as 0 at a = 0 (the limit from a > 0 for b > 0)
      (a, _b, _c, out) => (a === 0 ? 0 : out * Math.log(a)),
    ],
    wgsl: ([a, b], [, k]) => powWgsl(a!, b!, k),
    wgslPartials: [
      ([a, b], [, k]) => (k !== undefined ? `(${wgslFloat(k)} * ${powWgsl(a!, wgslFloat(k - 1), k - 1)})` : `select(${b} * wg_pow(${a}, ${b} - 1.0), 0.0, ${b} == 0.0)`),
      ([a], _k, out) => `select(${out} * wg_log(${a}), 0.0, ${a} == 0.0)`,
    ],
    helpers: ['wg_pow', 'wg_log'],
    domain: [[0.2, 3], [-2, 2]],
  },
  sqrt: {
    arity: 1, doc: '√a',
    eval: Math.sqrt,
    // d/da √a = 1/(2√a)
    partials: [(_a, _b, _c, out) => 0.5 / out],
    wgsl: ([a]) => `sqrt(${a})`,
    wgslPartials: [(_a, _k, out) => `(0.5 / ${out})`],
    domain: [[0.1, 4]],
  },
  exp: {
    arity: 1, doc: 'eᵃ',
    eval: Math.exp,
    // d/da eᵃ = eᵃ
    partials: [(_a, _b, _c, out) => out],
    wgsl: ([a]) => `exp(${a})`,
    wgslPartials: [(_a, _k, out) => out],
    domain: [[-3, 3]],
  },
  log: {
    arity: 1, doc: 'natural logarithm',
    eval: Math.log,
    // d/da ln a = 1/a
    partials: [(a) => 1 / a],
    wgsl: ([a]) => `wg_log(${a})`,
    wgslPartials: [([a]) => `(1.0 / ${a})`],
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  sin: {
    arity: 1, doc: 'sine',
    eval: Math.sin,
    // d/da sin a = cos a
    partials: [(a) => Math.cos(a)],
    wgsl: ([a]) => `wg_sincos(${a}).x`,
    wgslPartials: [([a]) => `wg_sincos(${a}).y`],
    helpers: ['wg_sincos'],
    domain: [[-3, 3]],
  },
  cos: {
    arity: 1, doc: 'cosine',
    eval: Math.cos,
    // d/da cos a = -sin a
    partials: [(a) => -Math.sin(a)],
    wgsl: ([a]) => `wg_sincos(${a}).y`,
    wgslPartials: [([a]) => `(-wg_sincos(${a}).x)`],
    helpers: ['wg_sincos'],
    domain: [[-3, 3]],
  },
  tan: {
    arity: 1, doc: 'tangent',
    eval: Math.tan,
    // d/da tan a = 1 + tan² a
    partials: [(_a, _b, _c, out) => 1 + out * out],
    wgsl: ([a]) => `wg_tan(${a})`,
    wgslPartials: [(_a, _k, out) => `(1.0 + ${out} * ${out})`],
    helpers: ['wg_tan', 'wg_sincos'],
    domain: [[-1.2, 1.2]],
  },
  tanh: {
    arity: 1, doc: 'hyperbolic tangent',
    eval: Math.tanh,
    // d/da tanh a = 1 - tanh² a
    partials: [(_a, _b, _c, out) => 1 - out * out],
    wgsl: ([a]) => `wg_tanh(${a})`,
    wgslPartials: [(_a, _k, out) => `(1.0 - ${out} * ${out})`],
    helpers: ['wg_tanh'],
    domain: [[-3, 3]],
  },
  sigmoid: {
    arity: 1, doc: '1 / (1 + e⁻ᵃ)',
    eval: (a) => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))),
    // d/da σ(a) = σ(a)(1 - σ(a))
    partials: [(_a, _b, _c, out) => out * (1 - out)],
    wgsl: ([a]) => `wg_sigmoid(${a})`,
    wgslPartials: [(_a, _k, out) => `(${out} * (1.0 - ${out}))`],
    helpers: ['wg_sigmoid'],
    domain: [[-4, 4]],
  },
  relu: {
    arity: 1, doc: 'max(a, 0)',
    eval: (a) => (a > 0 ? a : a === a ? 0 : a),
    // d/da relu a = 1 for a > 0, else 0 (relu'(0) = 0)
    partials: [(a) => (a > 0 ? 1 : 0)],
    wgsl: ([a]) => `wg_max(${a}, 0.0)`,
    wgslPartials: [([a]) => `select(0.0, 1.0, ${a} > 0.0)`],
    helpers: ['wg_max'],
    domain: [[-2, 2]],
  },
  abs: {
    arity: 1, doc: '|a|',
    eval: Math.abs,
    // d/da |a| = sign a (abs'(0) = 0)
    partials: [(a) => (a > 0 ? 1 : a < 0 ? -1 : 0)],
    wgsl: ([a]) => `abs(${a})`,
    wgslPartials: [([a]) => `sign(${a})`],
    domain: [[-2, 2]],
  },
  min: {
    arity: 2, doc: 'smaller of a and b (NaN if either is)',
    eval: (a, b) => (a <= b ? a : b < a ? b : a + b),
    // ∂min/∂a = 1 where a ≤ b (ties go to a), ∂min/∂b = the rest
    partials: [(a, b) => (a <= b ? 1 : 0), (a, b) => (a <= b ? 0 : 1)],
    wgsl: ([a, b]) => `wg_min(${a}, ${b})`,
    wgslPartials: [([a, b]) => `select(0.0, 1.0, ${a} <= ${b})`, ([a, b]) => `select(1.0, 0.0, ${a} <= ${b})`],
    helpers: ['wg_min'],
    domain: [[-2, 2], [-2, 2]],
  },
  max: {
    arity: 2, doc: 'larger of a and b (NaN if either is)',
    eval: (a, b) => (a >= b ? a : b > a ? b : a + b),
    // ∂max/∂a = 1 where a ≥ b (ties go to a), ∂max/∂b = the rest
    partials: [(a, b) => (a >= b ? 1 : 0), (a, b) => (a >= b ? 0 : 1)],
    wgsl: ([a, b]) => `wg_max(${a}, ${b})`,
    wgslPartials: [([a, b]) => `select(0.0, 1.0, ${a} >= ${b})`, ([a, b]) => `select(1.0, 0.0, ${a} >= ${b})`],
    helpers: ['wg_max'],
    domain: [[-2, 2], [-2, 2]],
  },
  atan2: {
    arity: 2, doc: 'angle of the point (x = b, y = a)',
    eval: Math.atan2,
    // ∂atan2(a,b)/∂a = b/(a²+b²), ∂atan2(a,b)/∂b = -a/(a²+b²)
    partials: [(a, b) => b / (a * a + b * b), (a, b) => -a / (a * a + b * b)],
    wgsl: ([a, b]) => `wg_atan2(${a}, ${b})`,
    wgslPartials: [([a, b]) => `(${b} / (${a} * ${a} + ${b} * ${b}))`, ([a, b]) => `(-${a} / (${a} * ${a} + ${b} * ${b}))`],
    helpers: ['wg_atan2'],
    domain: [[-2, 2], [0.3, 2]],
  },
  atan: {
    arity: 1, doc: 'arc tangent',
    eval: Math.atan,
    // d/da atan a = 1/(1 + a²)
    partials: [(a) => 1 / (1 + a * a)],
    wgsl: ([a]) => `atan(${a})`,
    wgslPartials: [([a]) => `(1.0 / (1.0 + ${a} * ${a}))`],
    domain: [[-3, 3]],
  },
  asin: {
    arity: 1, doc: 'arc sine',
    eval: Math.asin,
    // d/da asin a = 1/√(1 - a²)
    partials: [(a) => 1 / Math.sqrt(1 - a * a)],
    // As atan2: one adapter's asin builtin was off by 4e-4 (WGSL allows it), its atan2 is not.
    wgsl: ([a]) => `atan2(${a}, sqrt((1.0 - ${a}) * (1.0 + ${a})))`,
    wgslPartials: [([a]) => `(1.0 / sqrt(1.0 - ${a} * ${a}))`],
    domain: [[-0.9, 0.9]],
  },
  acos: {
    arity: 1, doc: 'arc cosine',
    eval: Math.acos,
    // d/da acos a = -1/√(1 - a²)
    partials: [(a) => -1 / Math.sqrt(1 - a * a)],
    // As atan2, for the accuracy reason given at asin.
    wgsl: ([a]) => `atan2(sqrt((1.0 - ${a}) * (1.0 + ${a})), ${a})`,
    wgslPartials: [([a]) => `(-1.0 / sqrt(1.0 - ${a} * ${a}))`],
    domain: [[-0.9, 0.9]],
  },
  sinh: {
    arity: 1, doc: 'hyperbolic sine',
    eval: Math.sinh,
    // d/da sinh a = cosh a
    partials: [(a) => Math.cosh(a)],
    wgsl: ([a]) => `wg_sinh(${a})`,
    wgslPartials: [([a]) => `cosh(${a})`],
    helpers: ['wg_sinh'],
    domain: [[-3, 3]],
  },
  cosh: {
    arity: 1, doc: 'hyperbolic cosine',
    eval: Math.cosh,
    // d/da cosh a = sinh a
    partials: [(a) => Math.sinh(a)],
    wgsl: ([a]) => `cosh(${a})`,
    wgslPartials: [([a]) => `wg_sinh(${a})`],
    helpers: ['wg_sinh'],
    domain: [[-3, 3]],
  },
  exp2: {
    arity: 1, doc: '2ᵃ',
    eval: (a) => Math.pow(2, a),
    // d/da 2ᵃ = 2ᵃ ln 2
    partials: [(_a, _b, _c, out) => out * Math.LN2],
    wgsl: ([a]) => `exp2(${a})`,
    wgslPartials: [(_a, _k, out) => `(${out} * 0.6931471805599453)`],
    domain: [[-3, 3]],
  },
  log2: {
    arity: 1, doc: 'base-2 logarithm',
    eval: Math.log2,
    // d/da log₂ a = 1/(a ln 2)
    partials: [(a) => 1 / (a * Math.LN2)],
    // WGSL's log2 is undefined at a <= 0: there wg_log gives -inf / NaN (scaling keeps them).
    wgsl: ([a]) => `select(log2(${a}), wg_log(${a}), ${a} <= 0.0)`,
    wgslPartials: [([a]) => `(1.4426950408889634 / ${a})`],
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  log10: {
    arity: 1, doc: 'base-10 logarithm',
    eval: Math.log10,
    // d/da log₁₀ a = 1/(a ln 10)
    partials: [(a) => 1 / (a * Math.LN10)],
    wgsl: ([a]) => `(wg_log(${a}) * 0.4342944819032518)`,
    wgslPartials: [([a]) => `(0.4342944819032518 / ${a})`],
    helpers: ['wg_log'],
    domain: [[0.1, 5]],
  },
  erf: {
    arity: 1, doc: 'error function',
    eval: erf64,
    // d/da erf a = 2/√π · e^{-a²}
    partials: [(a) => TWO_OVER_SQRT_PI * Math.exp(-a * a)],
    wgsl: ([a]) => `wg_erf(${a})`,
    wgslPartials: [([a]) => `(1.1283791670955126 * exp(-${a} * ${a}))`],
    helpers: ['wg_erf'],
    domain: [[-2.5, 2.5]],
  },
  log1p: {
    arity: 1, doc: 'ln(1 + a), accurate near 0',
    eval: Math.log1p,
    // d/da ln(1+a) = 1/(1+a)
    partials: [(a) => 1 / (1 + a)],
    wgsl: ([a]) => `wg_log1p(${a})`,
    wgslPartials: [([a]) => `(1.0 / (1.0 + ${a}))`],
    helpers: ['wg_log1p', 'wg_log'],
    domain: [[-0.5, 3]],
  },
  expm1: {
    arity: 1, doc: 'eᵃ - 1, accurate near 0',
    eval: Math.expm1,
    // d/da (eᵃ - 1) = eᵃ = out + 1
    partials: [(_a, _b, _c, out) => out + 1],
    wgsl: ([a]) => `wg_expm1(${a})`,
    wgslPartials: [(_a, _k, out) => `(${out} + 1.0)`],
    helpers: ['wg_expm1'],
    domain: [[-2, 2]],
  },
  where: {
    arity: 3, doc: 'b where cond ≠ 0, else c',
    eval: (c, a, b) => (c !== 0 ? a : b),
    // ∂/∂cond = 0; ∂/∂a = [cond ≠ 0]; ∂/∂b = [cond = 0]
    partials: [ZERO, (c) => (c !== 0 ? 1 : 0), (c) => (c !== 0 ? 0 : 1)],
    // cond ≠ 0 tested on the bits (any non-zero pattern, NaN included, is true, as in JS): a
    // software adapter compiled `NaN != 0.0` to false.
    wgsl: ([c, a, b]) => `select(${b}, ${a}, ${nonZero(c!)})`,
    wgslPartials: [W0, ([c]) => `select(0.0, 1.0, ${nonZero(c!)})`, ([c]) => `select(1.0, 0.0, ${nonZero(c!)})`],
    domain: [[0, 1], [-2, 2], [-2, 2]],
  },
  lt: comparison('<', (a, b) => a < b, 'a < b as 1 or 0'),
  le: comparison('<=', (a, b) => a <= b, 'a <= b as 1 or 0'),
  gt: comparison('>', (a, b) => a > b, 'a > b as 1 or 0'),
  ge: comparison('>=', (a, b) => a >= b, 'a >= b as 1 or 0'),
  eq: comparison('==', (a, b) => a === b, 'a == b as 1 or 0'),
  ne: comparison('!=', (a, b) => a !== b, 'a != b as 1 or 0'),
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
 * Adds an op to the table (custom.ts registerOp checks it first): OPS, OP_NAMES, the zero-partial
 * table and `helperSource` (WGSL functions its formulas call, under the name `helperName`).
 */
export function addOp(name: string, spec: OpSpec, helperName?: string, helperSource?: string): void {
  ;(OPS as unknown as Record<string, OpSpec>)[name] = spec
  ;(OP_NAMES as string[]).push(name)
  OP_INDEX.set(name, OP_NAMES.length - 1)
  ;(ZERO_PARTIALS as Record<string, readonly boolean[]>)[name] = zeroPartials(spec)
  if (helperName && helperSource !== undefined) CUSTOM_HELPERS.set(helperName, helperSource)
}

/** The table entry of an op name, typed as the general OpSpec. */
export function opSpec(name: OpName): OpSpec {
  return OPS[name]
}

/**
 * True where ∂op/∂arg_slot is zero by the op's definition (comparisons, where's condition): every
 * engine leaves such a term out, so an infinite adjoint meets no 0 · ∞ there.
 */
export function isZeroPartial(op: OpName, slot: number): boolean {
  return ZERO_PARTIALS[op]?.[slot] === true
}

function zeroPartials(spec: OpSpec): readonly boolean[] {
  return spec.wgslPartials.map((partial) => partial(['a', 'b', 'c'], [], 'o') === '0.0')
}

// Decided once per (op, slot), not per graph edge: every reverse schedule asks for every edge.
const ZERO_PARTIALS: Readonly<Record<string, readonly boolean[]>> = Object.fromEntries(OP_NAMES.map((n) => [n, zeroPartials(OPS[n] as OpSpec)]))

/** True if `name` is an op of the table (guards parser and deserialisation input). */
export function isOpName(name: string): name is OpName {
  return Object.prototype.hasOwnProperty.call(OPS, name)
}
