/**
 * Custom ops (registerOp): a registered op goes through the table-driven checks every built-in op
 * goes through — its derivative rules against central differences of its float64 value, GPU
 * against the f32-faithful reference on its domain on every tier (fused, interpreter, segmented) —
 * and is usable everywhere a built-in is: parse, Expr and Value methods, free functions,
 * Jacobians, JVPs and Hessians, serialization. Bad registrations are GraphErrors that change nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createGpuEngine, evaluateCpu, fns, graphFromJSON, graphToJSON, GraphError, hessian, OP_NAMES, OPS, parse, referenceEngine, registerOp, Value, type GpuEngine, type OpName } from '../../src/index.js'
import { centralDiff, expectClose, partialsAt, rng } from '../core/helpers.js'
import { expectMatchesReference, opCase } from './setup.js'

// softplus(a) = log(1 + eᵃ), computed without overflow; d/da = sigmoid(a).
const softplus = registerOp('softplus', {
  arity: 1,
  doc: 'log(1 + eᵃ)',
  eval: (a) => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a))),
  wgsl: ([a]) => `op_softplus(${a})`,
  wgslFunctions: 'fn op_softplus(a: f32) -> f32 { let e = exp(-abs(a)); return max(a, 0.0) + select(log(1.0 + e), e, e < 1e-4); }',
  domain: [[-6, 6]],
  derivatives: [([a]) => a!.sigmoid()],
})
// lerp(a, b, t) = a + t·(b − a): arity 3; ∂/∂a = 1 − t, ∂/∂b = t, ∂/∂t = b − a.
registerOp('lerp', {
  arity: 3,
  eval: (a, b, t) => a + t * (b - a),
  wgsl: ([a, b, t]) => `(${a} + ${t} * (${b} - ${a}))`,
  domain: [[-3, 3], [-3, 3], [0, 1]],
  derivatives: [([, , t]) => t!.neg().add(1), ([, , t]) => t!, ([a, b]) => b!.sub(a!)],
})
const CUSTOM = ['softplus', 'lerp'] as unknown as OpName[]

let engines: Record<'fused' | 'interpreter' | 'segmented', GpuEngine>
beforeAll(async () => {
  engines = {
    fused: await createGpuEngine({ tier: 'fused' }),
    interpreter: await createGpuEngine({ tier: 'interpreter' }),
    segmented: await createGpuEngine({ tier: 'fused', segmentCost: 1 }),
  }
})
afterAll(() => Object.values(engines ?? {}).forEach((e) => e.destroy()))

describe('registered ops go through the table-driven checks', () => {
  test('they are in the table, after the built-ins', () => {
    expect(OP_NAMES.slice(-2)).toEqual(CUSTOM)
    expect(OPS['softplus' as unknown as OpName].arity).toBe(1)
  })

  for (const name of CUSTOM) {
    test(`${name}: derivative rules against central finite differences of eval (f64)`, () => {
      const s = OPS[name]
      const r = rng(77)
      const points = Array.from({ length: 25 }, () => s.domain.map(([lo, hi]) => lo + (hi - lo) * r()))
      const partials = partialsAt(name, points)
      points.forEach((p, k) => {
        const call = (q: number[]) => s.eval(q[0]!, q[1] ?? NaN, q[2] ?? NaN)
        for (let i = 0; i < s.arity; i++) {
          const h = 1e-6 * Math.max(1, Math.abs(p[i]!))
          const fd = centralDiff((t) => call(p.map((v, j) => (j === i ? t : v))), p[i]!, h)
          expectClose(partials[k]![i]!, fd, 1e-6, `${name} ∂/∂arg${i} at (${p.join(', ')})`)
        }
      })
    })

    for (const tier of ['fused', 'interpreter', 'segmented'] as const) {
      test(`${name}: GPU (${tier}) vs the f32-faithful reference on its domain`, async () => {
        const { graph, bindings } = opCase(name, 2048, 99 + name.length)
        expectMatchesReference(await engines[tier].evaluate(graph, bindings), graph, bindings, 2e-5)
      })
    }
  }
})

describe('registered ops work everywhere a built-in does', () => {
  test('parse, Expr method, free function, Value, in a larger graph on every tier', async () => {
    const g = parse('u = softplus(x * y) - lerp(x, y, 0.25)\nf = softplus(u) * lerp(u, x, sigmoid(y))')
    const r = rng(3)
    const bindings = { x: Float32Array.from({ length: 999 }, () => 4 * r() - 2), y: Float32Array.from({ length: 999 }, () => 4 * r() - 2) }
    for (const tier of ['fused', 'interpreter', 'segmented'] as const) expectMatchesReference(await engines[tier].evaluate(g, bindings), g, bindings, 5e-5)
    const x = g.input('x')
    expect(softplus(x).kind).toBe('softplus')
    expect((fns as unknown as Record<string, (...a: unknown[]) => { kind: string }>).softplus!(x).kind).toBe('softplus')
    expect((x as unknown as { softplus: () => { kind: string } }).softplus().kind).toBe('softplus')
    // The eager Value: d softplus(a)/da = sigmoid(a).
    const a = new Value(0.7)
    const v = (a as unknown as { softplus: () => Value }).softplus()
    v.backward()
    expect(a.grad).toBeCloseTo(1 / (1 + Math.exp(-0.7)), 12)
  })

  test('Hessians through the symbolic derivatives, and a JSON round trip', async () => {
    const g = parse('f = softplus(x * y) + lerp(x, y, x)')
    const H = await hessian(g, referenceEngine(), { x: [0.3], y: [-0.8] })
    // f = sp(xy) + x + x(y - x): f_xx = y²·sp''(xy) - 2, f_xy = sp'(xy) + xy·sp''(xy) + 1, f_yy = x²·sp''(xy).
    const s = (t: number) => 1 / (1 + Math.exp(-t))
    const xy = 0.3 * -0.8
    const s2 = s(xy) * (1 - s(xy))
    expect(H.f!.x!.x![0]).toBeCloseTo(0.64 * s2 - 2, 10)
    expect(H.f!.x!.y![0]).toBeCloseTo(s(xy) + xy * s2 + 1, 10)
    expect(H.f!.y!.y![0]).toBeCloseTo(0.09 * s2, 10)
    const back = graphFromJSON(JSON.parse(JSON.stringify(graphToJSON(g))))
    expect(evaluateCpu(back, { x: [0.3], y: [-0.8] })).toEqual(evaluateCpu(g, { x: [0.3], y: [-0.8] }))
  })

  test('an op without derivatives evaluates values everywhere; a Jacobian through it names what is missing', async () => {
    registerOp('cube_nd', { arity: 1, eval: (a) => a * a * a, wgsl: ([a]) => `(${a} * ${a} * ${a})` })
    const g = parse('f = cube_nd(x) + 1')
    for (const tier of ['fused', 'interpreter', 'segmented'] as const) expect(Array.from((await engines[tier].evaluate(g, { x: [2, -1] }, { jacobian: false })).values.f!)).toEqual([9, 0])
    expect(() => evaluateCpu(g, { x: [2] })).toThrow(/'cube_nd' was registered without derivatives/)
    await expect(engines.fused.evaluate(g, { x: [2] })).rejects.toThrow(/'cube_nd' was registered without derivatives/)
    await expect(hessian(g, referenceEngine(), { x: [2] })).rejects.toThrow(/'cube_nd' was registered without derivatives/)
  })
})

describe('bad registrations are GraphErrors that change nothing', () => {
  const ok = { arity: 1 as const, eval: (a: number) => a, wgsl: ([a]: readonly string[]) => a!, derivatives: [1] }
  test.each([
    ['sin', ok, /already exists/],
    ['softplus', ok, /already exists/],
    ['2x', ok, /not an identifier/],
    ['toString', ok, /shadow/],
    ['kind', ok, /shadow/],
    ['grad', ok, /shadow/],
    ['bad_arity', { ...ok, arity: 4 }, /arity must be 1, 2 or 3/],
    ['bad_derivatives', { ...ok, derivatives: [] }, /derivatives must be 1 entry/],
    ['bad_derivative', { ...ok, derivatives: [Infinity] }, /derivatives must be 1 entry/],
    ['old_partials', { ...ok, partials: [() => 1] }, /'partials' is no longer read/],
    ['bad_eval', { ...ok, eval: () => 'x' }, /eval returned string/],
    ['bad_domain', { ...ok, domain: [[2, 1]] }, /domain must be/],
    ['bad_fn_name', { ...ok, wgslFunctions: 'fn helper(a: f32) -> f32 { return a; }' }, /must be named op_bad_fn_name/],
  ])('%s', (name, spec, message) => {
    const before = OP_NAMES.length
    expect(() => registerOp(name, spec as never)).toThrow(GraphError)
    expect(() => registerOp(name, spec as never)).toThrow(message)
    expect(OP_NAMES.length).toBe(before)
  })

  test('a WGSL mistake is a ShaderError when a kernel using the op compiles', async () => {
    registerOp('broken_wgsl', { arity: 1, eval: (a) => a, wgsl: ([a]) => `no_such_fn(${a})`, derivatives: [1] })
    const k = engines.fused.compile(parse('f = broken_wgsl(x)'))
    await expect(k.ready).rejects.toThrow(/WGSL compilation failed/)
  })
})
