/**
 * checkGradients on the CPU: correct engines pass; a stand-in engine with perturbed numbers, a
 * missing row, or a reference with a wrong op derivative is caught and the worst binding named;
 * non-finite numbers are counted per source; the options are validated.
 */
import { afterEach, describe, expect, test } from 'vitest'
import { BindingError, createCpuEngine, evaluateCpu, OPS, parse, type Bindings, type Derivative, type Graph } from '../../src/index.js'
import { checkGradients, formatGradientReport, type GradientEngine, type GradientReport } from '../../src/check.js'

const rosenbrock = parse('f = (1-x)^2 + 100*(y-x^2)^2')
const smooth = parse('r = sqrt(x^2 + y^2 + z^2 + 1)\nu = sin(x*y) / r\nv = tanh(x) * exp(-y^2) + atan2(y, x + 3)\nw = z * x')

/** The f64 reference as an engine, with a hook that may alter its results. */
function referenceEngine(alter: (r: ReturnType<typeof evaluateCpu>) => void = () => {}): GradientEngine {
  return {
    evaluate(graph: Graph, bindings: Bindings) {
      const r = evaluateCpu(graph, bindings)
      alter(r)
      return { ...r, backend: 'stand-in' }
    },
  }
}

const entry = (report: GradientReport, output: string, input?: string) => report.entries.find((e) => e.output === output && e.input === input)!

describe('correct engines pass', () => {
  test('the CPU engine (compiled JS, f64) on Rosenbrock and a 3-input, 3-output graph', async () => {
    const cpu = createCpuEngine({ compileAfter: 0 })
    const a = await checkGradients(rosenbrock, cpu, { domain: { x: [-2, 2], y: [-1, 3] }, count: 500 })
    expect(a.ok, formatGradientReport(a)).toBe(true)
    expect(a.size).toBe(500)
    expect(a.backend).toMatch(/^cpu-js/)
    expect(a.tol).toEqual({ engine: 1e-9, fd: 1e-5 })
    expect(a.entries.map((e) => `${e.output}/${e.input ?? 'value'}`)).toEqual(['f/value', 'f/x', 'f/y'])
    // A quartic: Richardson's O(h⁴) term is exact, so only rounding is left.
    expect(entry(a, 'f', 'x').fdError!).toBeLessThan(1e-9)
    expect(entry(a, 'f', 'x').fdSkipped).toBe(0)
    expect(a.nonFinite).toEqual({ engine: 0, reference: 0, finiteDifference: 0 })
    const b = await checkGradients(smooth, cpu, { domain: [-2, 2], count: 300, seed: 7 })
    expect(b.ok, formatGradientReport(b)).toBe(true)
    expect(b.entries.length).toBe(3 * (1 + 3))
    for (const e of b.entries) {
      expect(e.engineError).toBeLessThan(1e-12)
      if (e.input !== undefined) expect(e.fdError!).toBeLessThan(1e-8)
    }
  })

  test('sampling: seeded, inside the domain, float32 values; given bindings are used as given (rounded to f32)', async () => {
    const a = await checkGradients(rosenbrock, referenceEngine(), { domain: { x: [0.5, 0.75] }, count: 64, seed: 3 })
    const b = await checkGradients(rosenbrock, referenceEngine(), { domain: { x: [0.5, 0.75] }, count: 64, seed: 3 })
    expect(b.bindings.x).toEqual(a.bindings.x)
    for (const v of a.bindings.x!) expect(v >= 0.5 && v <= 0.75 && Math.fround(v) === v).toBe(true)
    for (const v of a.bindings.y!) expect(v >= -1 && v <= 1).toBe(true)
    const c = await checkGradients(rosenbrock, referenceEngine(), { bindings: { x: [0.1, 1, 2], y: 3 } })
    expect(c.size).toBe(3)
    expect(Array.from(c.bindings.x!)).toEqual([Math.fround(0.1), 1, 2])
    expect(Array.from(c.bindings.y!)).toEqual([3, 3, 3])
    // Hand math at (1, 3): ∂f/∂x = -2(1-x) - 400x(y-x²) = -800, ∂f/∂y = 200(y-x²) = 400.
    const worstAt1 = await checkGradients(rosenbrock, referenceEngine((r) => (r.jacobian.f!.x![1] = -799)), { bindings: { x: [0.1, 1, 2], y: 3 } })
    expect(worstAt1.worst[0]).toMatchObject({ index: 1, inputs: { x: 1, y: 3 }, output: 'f', input: 'x', engine: -799, reference: -800 })
    expect(worstAt1.worst[0]!.finiteDifference!).toBeCloseTo(-800, 8)
  })

  test('an engine returning Float32Array gets the f32 tolerance', async () => {
    const f32: GradientEngine = {
      evaluate(graph, bindings) {
        const r = evaluateCpu(graph, bindings, { precision: 'f32' })
        const to32 = (o: Record<string, Float64Array>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Float32Array.from(v)]))
        return { values: to32(r.values), jacobian: Object.fromEntries(Object.entries(r.jacobian).map(([k, v]) => [k, to32(v)])), size: r.size, backend: 'f32 stand-in' }
      },
    }
    const r = await checkGradients(smooth, f32, { domain: [-2, 2], count: 400 })
    expect(r.tol.engine).toBe(1e-3)
    expect(r.ok, formatGradientReport(r)).toBe(true)
    const worstEngine = Math.max(...r.entries.map((e) => e.engineError))
    // f32 rounding shows (≫ f64's 1e-16) but stays far inside the tolerance.
    expect(worstEngine).toBeGreaterThan(1e-9)
    expect(worstEngine).toBeLessThan(1e-4)
  })
})

describe('wrong numbers are caught', () => {
  test('a perturbed Jacobian entry: not ok, that row fails, the binding is named first', async () => {
    const engine = referenceEngine((r) => {
      if (r.size > 17) r.jacobian.f!.x![17]! *= 1.01
    })
    const report = await checkGradients(rosenbrock, engine, { domain: [-2, 2], count: 100 })
    expect(report.ok).toBe(false)
    const fx = entry(report, 'f', 'x')
    expect(fx.engineError).toBeGreaterThan(1e-3)
    expect(fx.engineError).toBeLessThanOrEqual(0.01 + 1e-12)
    expect(fx.engineWorst).toBe(17)
    expect(entry(report, 'f', 'y').engineError).toBe(0)
    expect(entry(report, 'f').engineError).toBe(0)
    // The reference itself still agrees with finite differences.
    expect(fx.fdError!).toBeLessThan(1e-8)
    const w = report.worst[0]!
    expect(w).toMatchObject({ index: 17, output: 'f', input: 'x', inputs: { x: report.bindings.x![17], y: report.bindings.y![17] } })
    const x = report.bindings.x![17]!
    const y = report.bindings.y![17]!
    const exact = -2 * (1 - x) - 400 * x * (y - x * x)
    expect(w.reference).toBeCloseTo(exact, 9)
    expect(w.engine).toBeCloseTo(exact * 1.01, 9)
    expect(w.finiteDifference!).toBeCloseTo(exact, 6)
    const text = formatGradientReport(report)
    expect(text).toMatch(/^gradient check FAILED: 100 bindings, stand-in/)
    expect(text).toMatch(/f\s+d\/dx\s+\d/)
    expect(text).toMatch(/#17 \(x=[-\d.e]+, y=[-\d.e]+\): df\/dx engine/)
  })

  test('a perturbed value, a NaN where the reference is finite, a missing row', async () => {
    const value = await checkGradients(smooth, referenceEngine((r) => (r.values.v![5]! += 1e-3)), { domain: [-2, 2], count: 50 })
    expect(value.ok).toBe(false)
    expect(value.worst[0]).toMatchObject({ index: 5, output: 'v' })
    expect(value.worst[0]!.input).toBeUndefined()
    const nan = await checkGradients(smooth, referenceEngine((r) => (r.jacobian.u!.y![9] = NaN)), { domain: [-2, 2], count: 50 })
    expect(entry(nan, 'u', 'y').engineError).toBe(Infinity)
    expect(entry(nan, 'u', 'y').nonFinite.engine).toBe(1)
    expect(nan.nonFinite).toEqual({ engine: 1, reference: 0, finiteDifference: 0 })
    expect(nan.worst[0]!.index).toBe(9)
    const missing = await checkGradients(smooth, referenceEngine((r) => delete r.jacobian.v!.x), { domain: [-2, 2], count: 50 })
    expect(missing.ok).toBe(false)
    expect(entry(missing, 'v', 'x').engineError).toBe(Infinity)
  })

  describe('a wrong op derivative in the reference is caught by finite differences', () => {
    const derivatives = OPS.sin.derivatives as Derivative[]
    const right = derivatives[0]!
    afterEach(() => {
      derivatives[0] = right
    })
    test('sin\' = cos, broken to 1.001·cos', async () => {
      derivatives[0] = ([a]) => a!.cos().mul(1.001)
      const g = parse('f = sin(x) * y')
      const report = await checkGradients(g, referenceEngine(), { domain: [-2, 2], count: 100 })
      expect(report.ok).toBe(false)
      expect(entry(report, 'f', 'x').fdError!).toBeGreaterThan(5e-4)
      expect(entry(report, 'f', 'x').engineError).toBe(0)
      expect(entry(report, 'f', 'y').fdError!).toBeLessThan(1e-8)
      expect(report.worst[0]).toMatchObject({ output: 'f', input: 'x' })
    })
  })
})

describe('non-finite numbers', () => {
  test('log(x) sampled across 0: counted per source, matching NaNs are no error', async () => {
    const g = parse('f = log(x) * y')
    const report = await checkGradients(g, createCpuEngine({ compileAfter: 0 }), { domain: { x: [-1, 1], y: [0.5, 2] }, count: 400 })
    const x = report.bindings.x!
    const nonPositive = x.filter((v) => v <= 0).length
    const zeros = x.filter((v) => v === 0).length
    expect(nonPositive).toBeGreaterThan(150)
    // Hand math: f and ∂f/∂y = log x are NaN (or -Inf) for x ≤ 0; ∂f/∂x = y/x is finite except at 0.
    expect(entry(report, 'f').nonFinite.reference).toBe(nonPositive)
    expect(entry(report, 'f', 'y').nonFinite.reference).toBe(nonPositive)
    expect(entry(report, 'f', 'x').nonFinite.reference).toBe(zeros)
    expect(report.nonFinite.engine).toBe(report.nonFinite.reference)
    // A difference across log's domain needs x - h > 0: every x ≤ 0 and a few just above 0 are NaN.
    expect(entry(report, 'f', 'x').nonFinite.finiteDifference).toBeGreaterThanOrEqual(nonPositive)
    expect(entry(report, 'f', 'x').nonFinite.finiteDifference).toBeLessThan(nonPositive + 10)
    expect(entry(report, 'f', 'x').fdSkipped!).toBeGreaterThanOrEqual(nonPositive)
    expect(report.ok, formatGradientReport(report)).toBe(true)
    expect(formatGradientReport(report)).toMatch(new RegExp(`f\\s+value\\s+0\\s+-\\s+${nonPositive}/${nonPositive}/-`))
  })

  test('a kink within the step is skipped, not failed', async () => {
    const g = parse('f = abs(x - 0.25) + relu(x)')
    const report = await checkGradients(g, createCpuEngine({ compileAfter: 0 }), { bindings: { x: [0.25 + 2 ** -12, 0.5, -0.5, 2 ** -13] } })
    expect(entry(report, 'f', 'x').fdSkipped).toBe(2)
    expect(report.ok).toBe(true)
    // At the two usable points f is linear within the step (f'(0.5) = 1 + 1, f'(-0.5) = -1 + 0).
    expect(Array.from(report.bindings.x!)).toEqual([0.25 + 2 ** -12, 0.5, -0.5, 2 ** -13])
    expect(entry(report, 'f', 'x').fdError!).toBeLessThan(1e-12)
  })
})

describe('options are validated', () => {
  test.each([
    [{ bindings: { x: [1], z: [2] } }, BindingError, /unknown input 'z'/],
    [{ bindings: { x: [1, 2] } }, BindingError, /missing binding for 'y'/],
    [{ bindings: { x: [1, 2], y: [1] } }, BindingError, /unequal lengths/],
    [{ bindings: { x: ['1'], y: [1] } as never }, BindingError, /'x'\[0\] is the string "1", not a number/],
    [{ domain: { q: [0, 1] } }, BindingError, /domain names unknown input 'q'/],
    [{ domain: [1, 0] }, RangeError, /domain of 'x' must be \[lo, hi\]/],
    [{ count: 0 }, RangeError, /count must be a positive integer/],
    [{ step: -1 }, RangeError, /step must be a positive number/],
    [{ tol: { fd: 0 } }, RangeError, /tol.fd must be a positive number/],
  ])('%j', async (options, kind, message) => {
    const run = checkGradients(rosenbrock, referenceEngine(), options as never)
    await expect(run).rejects.toThrow(kind)
    await expect(run).rejects.toThrow(message)
  })
})
