/**
 * The op table, driven by the table itself: every op's derivative rules (built as graphs, evaluated
 * by the reference) against central finite differences of its own `eval` on its domain, every op's
 * value and partials against sympy (an independent oracle, run at test time, from the table's own
 * sympy strings), WGSL emission for every op, helpers present in shaders/, and the kink conventions
 * by hand.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { OPS, OP_NAMES, type OpName, type OpSpec } from '../../src/index.js'
import { centralDiff, expectClose, partialsAt, rng, uniform } from './helpers.js'
import { oraclePython } from './oracle.js'

const spec = (name: OpName): OpSpec => OPS[name]
const SHADERS = fileURLToPath(new URL('../../shaders/', import.meta.url))

/** Ops with a kink or jump, and how far (in argument space) a sample must stay from it. */
const KINK: Partial<Record<OpName, (x: readonly number[]) => number>> = {
  relu: ([a]) => Math.abs(a!),
  abs: ([a]) => Math.abs(a!),
  min: ([a, b]) => Math.abs(a! - b!),
  max: ([a, b]) => Math.abs(a! - b!),
  lt: ([a, b]) => Math.abs(a! - b!),
  le: ([a, b]) => Math.abs(a! - b!),
  gt: ([a, b]) => Math.abs(a! - b!),
  ge: ([a, b]) => Math.abs(a! - b!),
  eq: ([a, b]) => Math.abs(a! - b!),
  ne: ([a, b]) => Math.abs(a! - b!),
  where: ([c]) => Math.abs(c!),
}

/** `count` points of an op's domain, none within 1e-3 of a kink. */
function samples(name: OpName, count: number, seed: number): number[][] {
  const s = spec(name)
  const r = rng(seed)
  const points: number[][] = []
  while (points.length < count) {
    const p = s.domain.map(([lo, hi]) => uniform(r, lo, hi))
    const kink = KINK[name]
    if (kink && kink(p) < 1e-3) continue
    points.push(p)
  }
  return points
}

const call = (s: OpSpec, p: readonly number[]) => s.eval(p[0]!, p[1] ?? NaN, p[2] ?? NaN)

const REQUIRED: readonly string[] = ['add', 'sub', 'mul', 'div', 'neg', 'pow', 'sqrt', 'exp', 'log', 'sin', 'cos', 'tan', 'tanh', 'sigmoid', 'relu', 'abs', 'min', 'max', 'atan2', 'erf', 'log1p', 'expm1', 'where', 'lt', 'le', 'gt', 'ge', 'eq', 'ne']

describe('the table', () => {
  test('holds every op DESIGN.md requires, and nothing is half-filled', () => {
    expect([...OP_NAMES]).toEqual(expect.arrayContaining([...REQUIRED]))
    for (const name of OP_NAMES) {
      const s = spec(name)
      expect(s.derivatives, name).toHaveLength(s.arity)
      for (const d of s.derivatives) expect(typeof d === 'function' || Number.isFinite(d), name).toBe(true)
      expect(s.domain, name).toHaveLength(s.arity)
      for (const [lo, hi] of s.domain) expect(lo, name).toBeLessThan(hi)
      expect(s.doc.length, name).toBeGreaterThan(0)
    }
  })

  test("the names that follow from the table: index.ts's free functions, README's op list, parse's functions", async () => {
    const index = (await import('../../src/index.js')) as unknown as Record<string, unknown>
    for (const name of OP_NAMES) expect(typeof index[name], `index.ts exports ${name}`).toBe('function')
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
    const list = /`Expr` methods, and free functions of the same names imported from `'wavegrad'`:\s*`([^`]+)`/.exec(readme)
    expect(list, "README's op list").not.toBeNull()
    expect(list![1]!.split(/\s+/).sort()).toEqual([...OP_NAMES].sort())
  })

  test('infix symbols are the language operators', () => {
    const symbols = Object.fromEntries(OP_NAMES.filter((n) => spec(n).symbol !== undefined).map((n) => [n, spec(n).symbol]))
    expect(symbols).toEqual({ add: '+', sub: '-', mul: '*', div: '/', pow: '^', lt: '<', le: '<=', gt: '>', ge: '>=', eq: '==', ne: '!=' })
  })
})

describe('derivative rules against central finite differences of eval (f64)', () => {
  test.each(OP_NAMES.map((n) => [n]))('%s', (name) => {
    const s = spec(name)
    const points = samples(name, 25, 1234 + name.length * 7919 + name.charCodeAt(0))
    const partials = partialsAt(name, points)
    points.forEach((p, k) => {
      for (let i = 0; i < s.arity; i++) {
        const h = 1e-6 * Math.max(1, Math.abs(p[i]!))
        const fd = centralDiff((t) => call(s, p.map((v, j) => (j === i ? t : v))), p[i]!, h)
        expectClose(partials[k]![i]!, fd, 1e-6, `${name} ∂/∂arg${i} at (${p.join(', ')})`)
      }
    })
  })
})

/**
 * sympy as an independent oracle: the same points, evaluated exactly (the float64 inputs as
 * rationals) to 30 digits, for the value and every partial (sympy differentiates the table's sympy
 * form symbolically).
 */
const ORACLE = String.raw`
import json, sys
import sympy as sp
a, b, c = sp.symbols('a b c', real=True)
req = json.load(sys.stdin)
out = {}
for name, item in req.items():
    expr = sp.sympify(item['expr'], locals={'a': a, 'b': b, 'c': c})
    syms = [a, b, c][:item['arity']]
    parts = [sp.diff(expr, s) for s in syms]
    rows = []
    for p in item['points']:
        subs = {s: sp.Rational(v) for s, v in zip(syms, p)}
        row = [float(sp.N(expr.subs(subs), 30))] + [float(sp.N(d.subs(subs), 30)) for d in parts]
        rows.append(row)
    out[name] = rows
json.dump(out, sys.stdout)
`

describe('values and partials against sympy', () => {
  test('every op with a closed form', () => {
    const request: Record<string, { expr: string; arity: number; points: number[][] }> = {}
    for (const name of OP_NAMES) {
      const expr = spec(name).sympy
      if (expr !== undefined) request[name] = { expr, arity: spec(name).arity, points: samples(name, 6, 99 + name.charCodeAt(1)) }
    }
    // Every op but `where` and the comparisons (checked by hand below) has a sympy form.
    const byHand = ['where', 'lt', 'le', 'gt', 'ge', 'eq', 'ne']
    expect(Object.keys(request).sort()).toEqual(OP_NAMES.filter((n) => !byHand.includes(n)).sort())
    const py = spawnSync(oraclePython(), ['-c', ORACLE], { input: JSON.stringify(request), encoding: 'utf8', timeout: 60_000 })
    expect(py.error, 'python3 must be runnable').toBeUndefined()
    expect(py.status, py.stderr).toBe(0)
    const answer = JSON.parse(py.stdout) as Record<string, number[][]>
    for (const [name, item] of Object.entries(request)) {
      const s = spec(name as OpName)
      const ours = partialsAt(name as OpName, item.points)
      item.points.forEach((p, k) => {
        const [value, ...partials] = answer[name]![k]!
        expectClose(call(s, p), value!, 1e-13, `${name}(${p.join(', ')})`)
        partials.forEach((d, i) => expectClose(ours[k]![i]!, d, 1e-12, `${name} ∂/∂arg${i} at (${p.join(', ')})`))
      })
    }
  })
})

describe('erf against mpmath on a dense grid', () => {
  test('within 1e-15 relative (a few ulp) on [-7, 7], exactly ±1 where erf rounds to ±1', () => {
    const xs = Array.from({ length: 1401 }, (_, i) => -7 + i / 100)
    const py = spawnSync(oraclePython(), ['-c', 'import json,sys,mpmath\nmpmath.mp.dps=40\nprint(json.dumps([float(mpmath.erf(mpmath.mpf(x))) for x in json.load(sys.stdin)]))'], {
      input: JSON.stringify(xs),
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect(py.status, py.stderr).toBe(0)
    const want = JSON.parse(py.stdout) as number[]
    xs.forEach((x, i) => {
      const got = spec('erf').eval(x, NaN, NaN)
      expect(Math.abs(got - want[i]!), `erf(${x})`).toBeLessThanOrEqual(1e-15 * Math.abs(want[i]!))
    })
  })
})

describe('WGSL emission', () => {
  const ids = ['a', 'b', 'c']
  test.each(OP_NAMES.map((n) => [n]))('%s: the value is non-empty and uses only declared helpers', (name) => {
    const s = spec(name)
    const args = ids.slice(0, s.arity)
    const variants: (number | undefined)[][] = [args.map(() => undefined)]
    // pow specialises on a constant exponent: integers, halves and the general case; gmadd on constants.
    if (name === 'pow') for (const k of [-3, -2, -1, 2, 3, 4, 5, 0.5, -0.5, 1.5, 2.7, -1.25]) variants.push([undefined, k])
    if (name === 'gmadd') for (const k of [[0], [undefined, 0], [undefined, 2], [undefined, undefined, 0], [0, undefined, 1], [undefined, undefined, -1]]) variants.push(k)
    for (const k of variants) {
      const texts = [s.wgsl(args, k)]
      for (const text of texts) {
        expect(text.trim().length, `${name} ${JSON.stringify(k)}`).toBeGreaterThan(0)
        expect(text).not.toMatch(/undefined|NaN|null/)
        for (const used of text.match(/\bwg_\w+/g) ?? []) expect(s.helpers ?? [], `${name} calls ${used}`).toContain(used)
        // Balanced parentheses.
        let depth = 0
        for (const ch of text) {
          depth += ch === '(' ? 1 : ch === ')' ? -1 : 0
          expect(depth).toBeGreaterThanOrEqual(0)
        }
        expect(depth, text).toBe(0)
      }
    }
  })

  test('every helper has its file shaders/<name>.wgsl defining fn <name>', () => {
    const helpers = new Set(OP_NAMES.flatMap((n) => spec(n).helpers ?? []))
    expect(helpers.size).toBeGreaterThan(0)
    for (const h of helpers) {
      const file = `${SHADERS}${h}.wgsl`
      expect(existsSync(file), file).toBe(true)
      expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`\\bfn\\s+${h}\\s*\\(`))
    }
  })
})

describe('special cases by hand', () => {
  const p = (name: OpName, i: number, a: number, b = NaN, c = NaN) => partialsAt(name, [[a, b, c].slice(0, spec(name).arity)])[0]![i]!

  test('pow with a negative base and an integer exponent: (-2)³ = -8, d/da = 3·(-2)² = 12', () => {
    expect(spec('pow').eval(-2, 3, NaN)).toBe(-8)
    expect(p('pow', 0, -2, 3)).toBe(12)
    expect(spec('pow').eval(-2, 2, NaN)).toBe(4)
    expect(p('pow', 0, -2, 2)).toBe(-4)
    expect(spec('pow').eval(-8, 1 / 3, NaN)).toBeNaN()
    // b = 0: a⁰ = 1 whatever a, so ∂/∂a = 0 (also at a = 0)
    expect(spec('pow').eval(0, 0, NaN)).toBe(1)
    expect(p('pow', 0, 0, 0)).toBe(0)
  })

  test('erf against known values to 1e-14 relative', () => {
    const known: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [-3, -0.9999779095030014],
      [1e-10, 1.1283791670955126e-10],
      [-0.5, -0.5204998778130465],
      [0, 0],
      [10, 1],
      [-10, -1],
    ]
    for (const [x, v] of known) {
      const got = spec('erf').eval(x, NaN, NaN)
      expect(Math.abs(got - v), `erf(${x})`).toBeLessThanOrEqual(1e-14 * Math.abs(v))
    }
    expect(spec('erf').eval(NaN, NaN, NaN)).toBeNaN()
    expect(spec('erf').eval(Infinity, NaN, NaN)).toBe(1)
    expect(spec('erf').eval(-Infinity, NaN, NaN)).toBe(-1)
    // d/dx erf x = 2/√π e^{-x²}
    expect(p('erf', 0, 0)).toBeCloseTo(2 / Math.sqrt(Math.PI), 15)
  })

  test('erf is monotone and odd on a fine grid, and stays within [-1, 1]', () => {
    let prev = -1
    for (let x = -7; x <= 7; x += 1 / 64) {
      const v = spec('erf').eval(x, NaN, NaN)
      expect(v).toBeGreaterThanOrEqual(prev)
      expect(Math.abs(v)).toBeLessThanOrEqual(1)
      expect(spec('erf').eval(-x, NaN, NaN)).toBe(-v)
      prev = v
    }
  })

  test('sigmoid at ±40 is finite, and so are its derivatives', () => {
    const hi = spec('sigmoid').eval(40, NaN, NaN)
    const lo = spec('sigmoid').eval(-40, NaN, NaN)
    expect(hi).toBe(1)
    // σ(-40) = e⁻⁴⁰/(1 + e⁻⁴⁰)
    expectClose(lo, Math.exp(-40) / (1 + Math.exp(-40)), 1e-15, 'σ(-40)')
    expect(lo / (Math.exp(-40) / (1 + Math.exp(-40)))).toBeCloseTo(1, 14)
    for (const x of [40, -40, 800, -800]) {
      const d = p('sigmoid', 0, x)
      expect(Number.isFinite(d)).toBe(true)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThanOrEqual(0.25)
    }
    expect(spec('sigmoid').eval(-800, NaN, NaN)).toBe(0)
    expect(spec('sigmoid').eval(800, NaN, NaN)).toBe(1)
    expect(p('sigmoid', 0, 0)).toBe(0.25)
  })

  test('kinks: relu′(0) = 0, abs′(0) = 0, min and max pass ties to the first argument', () => {
    expect(spec('relu').eval(0, NaN, NaN)).toBe(0)
    expect(p('relu', 0, 0)).toBe(0)
    expect(p('relu', 0, 1e-300)).toBe(1)
    expect(p('relu', 0, -1e-300)).toBe(0)
    expect(spec('relu').eval(-2, NaN, NaN)).toBe(0)
    expect(spec('relu').eval(NaN, NaN, NaN)).toBeNaN()
    expect(p('abs', 0, 0)).toBe(0)
    expect(p('abs', 0, -3)).toBe(-1)
    expect(p('abs', 0, 3)).toBe(1)
    for (const op of ['min', 'max'] as const) {
      expect(spec(op).eval(1.5, 1.5, NaN)).toBe(1.5)
      expect([p(op, 0, 1.5, 1.5), p(op, 1, 1.5, 1.5)], op).toEqual([1, 0])
      expect(spec(op).eval(NaN, 1, NaN), op).toBeNaN()
      expect(spec(op).eval(1, NaN, NaN), op).toBeNaN()
    }
    expect(spec('min').eval(1, 2, NaN)).toBe(1)
    expect([p('min', 0, 1, 2), p('min', 1, 1, 2)]).toEqual([1, 0])
    expect([p('min', 0, 2, 1), p('min', 1, 2, 1)]).toEqual([0, 1])
    expect(spec('max').eval(1, 2, NaN)).toBe(2)
    expect([p('max', 0, 1, 2), p('max', 1, 1, 2)]).toEqual([0, 1])
    expect([p('max', 0, 2, 1), p('max', 1, 2, 1)]).toEqual([1, 0])
  })

  test('comparisons give 0 or 1 and have derivative 0 everywhere', () => {
    const truth: Record<'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne', (a: number, b: number) => boolean> = {
      lt: (a, b) => a < b,
      le: (a, b) => a <= b,
      gt: (a, b) => a > b,
      ge: (a, b) => a >= b,
      eq: (a, b) => a === b,
      ne: (a, b) => a !== b,
    }
    const pairs = [[1, 2], [2, 1], [1, 1], [-0, 0], [NaN, 1], [-Infinity, Infinity]] as const
    for (const [op, t] of Object.entries(truth) as [keyof typeof truth, (a: number, b: number) => boolean][]) {
      for (const [a, b] of pairs) {
        expect(spec(op).eval(a, b, NaN), `${op}(${a}, ${b})`).toBe(t(a, b) ? 1 : 0)
        expect([p(op, 0, a, b), p(op, 1, a, b)]).toEqual([0, 0])
      }
    }
  })

  test('where picks the branch by the condition, derivative 0 in the condition', () => {
    expect(spec('where').eval(1, 10, 20)).toBe(10)
    expect(spec('where').eval(0, 10, 20)).toBe(20)
    expect(spec('where').eval(-0, 10, 20)).toBe(20)
    expect(spec('where').eval(0.5, 10, 20)).toBe(10)
    expect([p('where', 0, 1, 10, 20), p('where', 1, 1, 10, 20), p('where', 2, 1, 10, 20)]).toEqual([0, 1, 0])
    expect([p('where', 0, 0, 10, 20), p('where', 1, 0, 10, 20), p('where', 2, 0, 10, 20)]).toEqual([0, 0, 1])
  })

  test('the value-reusing partials: exp, sqrt, tanh, tan, expm1, div', () => {
    expect(p('exp', 0, 1)).toBe(Math.E)
    expect(p('sqrt', 0, 4)).toBe(0.25)
    expect(p('tanh', 0, 0)).toBe(1)
    expect(p('tan', 0, 0)).toBe(1)
    expect(p('expm1', 0, 0)).toBe(1)
    // d(a/b)/db = -a/b²
    expect(p('div', 1, 3, 2)).toBe(-0.75)
    // ∂atan2(a, b)/∂a at (0, 1) = 1, ∂/∂b at (1, 0) = -1
    expect(p('atan2', 0, 0, 1)).toBe(1)
    expect(p('atan2', 1, 1, 0)).toBe(-1)
  })
})
