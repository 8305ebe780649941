/**
 * The graph transformations on the CPU: the pow rule's folded forms, gradient and JVP graphs against
 * evaluateCpu's Jacobian on random smooth DAGs, Hessians against finite differences of the
 * reference gradient and against hand-derived closed forms, HVPs against H·v, the zero-adjoint rule,
 * name clashes, caching, and the build time of a 1000-node graph's transforms.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { createCpuEngine, evaluateCpu, Graph, GraphError, BindingError, levelize, parse } from '../../src/index.js'
import { gradientGraph, hessian, hvp, hvpGraph, jvp, jvpGraph, referenceEngine } from '../../src/transform.js'
import { SMOOTH_COUNT, at, buildSmoothDag, expectClose, rng, uniform } from './helpers.js'

/** Equal to 1e-12 (relative beyond 1), or the same non-finite number. */
function same(actual: number, expected: number, what: string, tol = 1e-12): void {
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
    if (!(Object.is(actual, expected) || (Number.isNaN(actual) && Number.isNaN(expected)))) expect.fail(`${what}: expected ${expected}, got ${actual}`)
    return
  }
  expectClose(actual, expected, tol, what)
}

describe('the pow rule on the forms the graph folds (a constant exponent or base)', () => {
  test('x^k: k·x^(k-1) (0 for k = 0); k^y: k^y·ln k (0 for k = 0), as the reference computes them', () => {
    const xs = [-2, -1, -0.5, 0.3, 1, 2.5]
    for (const k of [2, 3, -1, -2, 0.5, 1.5, -0.5, 4]) {
      const g = new Graph()
      const x = g.input('x')
      g.output('f', x.pow(k))
      const r = evaluateCpu(g, { x: xs })
      xs.forEach((v, i) => same(at(r.jacobian.f!.x, i), k * Math.pow(v, k - 1), `d/dx x^${k} at ${v}`))
      const h = new Graph()
      const y = h.input('y')
      h.output('f', h.constant(k).pow(y))
      const q = evaluateCpu(h, { y: xs })
      xs.forEach((v, i) => same(at(q.jacobian.f!.y, i), Math.pow(k, v) * Math.log(k), `d/dy ${k}^y at ${v}`))
    }
    const z = new Graph()
    z.output('f', z.constant(0).pow(z.input('y')))
    expect(Array.from(evaluateCpu(z, { y: [1, 2, 0.5] }).jacobian.f!.y!)).toEqual([0, 0, 0])
  })
})

/** A random smooth DAG with 1-4 inputs and 1-3 outputs, and random bindings in [-2, 2]. */
const randomDag = fc
  .record({
    inputs: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 30 }),
    outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    seed: fc.nat(),
  })
  .map(({ inputs, steps, outputs, seed }) => {
    const graph = new Graph()
    const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
    const pool = buildSmoothDag(graph, names, steps)
    outputs.forEach((o, k) => graph.output(`o${k}`, pool[inputs + (o % (pool.length - inputs))]!.expr))
    const r = rng(seed)
    const size = 16
    const point = () => Object.fromEntries(names.map((n) => [n, Array.from({ length: size }, () => uniform(r, -2, 2))]))
    return { graph, names, bindings: point(), tangents: point() }
  })

describe('first order on random smooth DAGs', () => {
  test('gradientGraph values equal evaluateCpu Jacobians (f64, 1e-12)', () => {
    fc.assert(
      fc.property(randomDag, ({ graph, names, bindings }) => {
        const ref = evaluateCpu(graph, bindings)
        const got = evaluateCpu(gradientGraph(graph), bindings).values
        for (const o of graph.outputs) for (const i of names) ref.jacobian[o]![i]!.forEach((v, b) => same(at(got[`d_${o}_${i}`], b), v, `d_${o}_${i}[${b}]`))
      }),
      { numRuns: 60, seed: 11 },
    )
  })

  test('jvp equals Jacobian · tangent (f64, 1e-12), values unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(randomDag, async ({ graph, names, bindings, tangents }) => {
        const ref = evaluateCpu(graph, bindings)
        const r = await jvp(graph, referenceEngine(), bindings, tangents)
        for (const o of graph.outputs) {
          for (let b = 0; b < ref.size; b++) {
            let want = 0
            for (const i of names) want += ref.jacobian[o]![i]![b]! * tangents[i]![b]!
            same(at(r.jvp[o], b), want, `jvp_${o}[${b}]`)
            expect(at(r.values[o], b)).toBe(at(ref.values[o], b))
          }
        }
      }),
      { numRuns: 60, seed: 12 },
    )
  })
})

/** Hessians by 4th-order central differences of the reference gradient: H[o][i][j] ≈ ∂(∂o/∂i)/∂j. */
function fdHessian(graph: Graph, names: readonly string[], bindings: Record<string, number[]>, h = 1e-3) {
  const size = bindings[names[0]!]!.length
  const shifted = (j: string, s: number) => evaluateCpu(graph, Object.fromEntries(names.map((n) => [n, bindings[n]!.map((v) => (n === j ? v + s * h : v))]))).jacobian
  const H: Record<string, Record<string, Record<string, number[]>>> = {}
  for (const j of names) {
    const [p2, p1, m1, m2] = [2, 1, -1, -2].map((s) => shifted(j, s))
    for (const o of graph.outputs) for (const i of names) {
      ((H[o] ??= {})[i] ??= {})[j] = Array.from({ length: size }, (_, b) => (-p2![o]![i]![b]! + 8 * p1![o]![i]![b]! - 8 * m1![o]![i]![b]! + m2![o]![i]![b]!) / (12 * h))
    }
  }
  return H
}

describe('Hessians', () => {
  test('random smooth DAGs: hessian vs finite differences of the reference gradient, and symmetric', async () => {
    await fc.assert(
      fc.asyncProperty(randomDag, async ({ graph, names, bindings }) => {
        const H = await hessian(graph, referenceEngine(), bindings)
        const F = fdHessian(graph, names, bindings)
        for (const o of graph.outputs) for (const i of names) for (const j of names) {
          H[o]![i]![j]!.forEach((v, b) => {
            expectClose(v, F[o]![i]![j]![b]!, 2e-6, `H.${o}.${i}.${j}[${b}] vs FD`)
            expectClose(v, H[o]![j]![i]![b]!, 1e-11, `H.${o}.${i}.${j}[${b}] symmetry`)
          })
        }
      }),
      { numRuns: 40, seed: 13 },
    )
  })

  const r = rng(5)
  const N = 64
  const sample = (lo: number, hi: number) => Array.from({ length: N }, () => uniform(r, lo, hi))

  test('closed forms: Rosenbrock, sin(x)·exp(y), x³y² + log x, a tanh neuron', async () => {
    const cases: { src: string; bindings: Record<string, number[]>; H: (p: Record<string, number>) => Record<string, Record<string, number>> }[] = [
      {
        src: 'f = (1-x)^2 + 100*(y-x^2)^2',
        bindings: { x: sample(-2, 2), y: sample(-1, 3) },
        H: ({ x, y }) => ({ x: { x: 1200 * x! ** 2 - 400 * y! + 2, y: -400 * x! }, y: { x: -400 * x!, y: 200 } }),
      },
      {
        src: 'f = sin(x) * exp(y)',
        bindings: { x: sample(-3, 3), y: sample(-2, 2) },
        H: ({ x, y }) => {
          const [s, c, e] = [Math.sin(x!), Math.cos(x!), Math.exp(y!)]
          return { x: { x: -s * e, y: c * e }, y: { x: c * e, y: s * e } }
        },
      },
      {
        src: 'f = x^3 * y^2 + log(x)',
        bindings: { x: sample(0.2, 3), y: sample(-2, 2) },
        H: ({ x, y }) => ({ x: { x: 6 * x! * y! ** 2 - 1 / x! ** 2, y: 6 * x! ** 2 * y! }, y: { x: 6 * x! ** 2 * y!, y: 2 * x! ** 3 } }),
      },
      {
        src: 'f = tanh(w*x + b)',
        bindings: { w: sample(-2, 2), x: sample(-2, 2), b: sample(-1, 1) },
        H: ({ w, x, b }) => {
          const t = Math.tanh(w! * x! + b!)
          const d1 = 1 - t * t
          const d2 = -2 * t * d1
          return {
            w: { w: x! * x! * d2, x: d1 + w! * x! * d2, b: x! * d2 },
            x: { w: d1 + w! * x! * d2, x: w! * w! * d2, b: w! * d2 },
            b: { w: x! * d2, x: w! * d2, b: d2 },
          }
        },
      },
    ]
    for (const { src, bindings, H } of cases) {
      const g = parse(src)
      const got = await hessian(g, referenceEngine(), bindings)
      const viaCpuEngine = await hessian(g, createCpuEngine({ compileAfter: 0 }), bindings)
      for (let b = 0; b < N; b++) {
        const want = H(Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, v[b]!])))
        for (const i of g.inputs) for (const j of g.inputs) {
          expectClose(at(got.f![i]![j], b), want[i]![j]!, 1e-12, `${src}: H.${i}.${j}[${b}]`)
          expectClose(at(viaCpuEngine.f![i]![j], b), want[i]![j]!, 1e-12, `${src} (CPU engine): H.${i}.${j}[${b}]`)
        }
      }
    }
  })

  test('wrt restricts the Hessian to some inputs', async () => {
    const g = parse('f = tanh(w*x + b)')
    const H = await hessian(g, referenceEngine(), { w: [0.5], x: [2], b: [0.1] }, { wrt: ['w', 'b'] })
    expect(Object.keys(H.f!)).toEqual(['w', 'b'])
    expect(Object.keys(H.f!.w!)).toEqual(['w', 'b'])
    const t = Math.tanh(1.1)
    expectClose(at(H.f!.w!.b, 0), 2 * -2 * t * (1 - t * t), 1e-14, 'H.w.b')
  })
})

describe('Hessian-vector products', () => {
  test('random smooth DAGs: both methods equal H·v from the full Hessian (f64, 1e-12)', async () => {
    await fc.assert(
      fc.asyncProperty(randomDag, async ({ graph, names, bindings, tangents }) => {
        const H = await hessian(graph, referenceEngine(), bindings)
        const a = await hvp(graph, referenceEngine(), bindings, tangents, { method: 'forward-over-reverse' })
        const c = await hvp(graph, referenceEngine(), bindings, tangents)
        for (const o of graph.outputs) for (const i of names) {
          for (let b = 0; b < 16; b++) {
            let want = 0
            for (const j of names) want += H[o]![i]![j]![b]! * tangents[j]![b]!
            same(at(a.hvp[o]![i], b), want, `hvp.${o}.${i}[${b}]`, 1e-11)
            same(at(c.hvp[o]![i], b), want, `hvp (reverse over forward).${o}.${i}[${b}]`, 1e-11)
          }
        }
      }),
      { numRuns: 40, seed: 14 },
    )
  })

  test('Rosenbrock by hand; a missing direction is 0; wrt', async () => {
    const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
    for (const method of ['forward-over-reverse', 'reverse-over-forward'] as const) {
      const r = await hvp(g, referenceEngine(), { x: [1, 2], y: [1, 3] }, { x: [1, 0.5] }, { method })
      // H(1,1) = [[802, -400], [-400, 200]], H(2,3) = [[3602, -800], [-800, 200]]
      expect(Array.from(r.hvp.f!.x!)).toEqual([802, 1801])
      expect(Array.from(r.hvp.f!.y!)).toEqual([-400, -400])
    }
    // The CPU engine (compiled JavaScript) runs the transformed graphs too.
    const cpu = createCpuEngine({ compileAfter: 0 })
    expect(Array.from((await hvp(g, cpu, { x: [1, 2], y: [1, 3] }, { x: [1, 0.5] })).hvp.f!.x!)).toEqual([802, 1801])
    expect(Array.from((await jvp(g, cpu, { x: [1, 2], y: [1, 3] }, { y: 1 })).jvp.f!)).toEqual([0, 200 * (3 - 4)])
    const s = await hvp(g, referenceEngine(), { x: [2], y: [3] }, { y: [1] }, { wrt: ['y'], method: 'reverse-over-forward' })
    expect(Object.keys(s.hvp.f!)).toEqual(['y'])
    expect(Array.from(s.hvp.f!.y!)).toEqual([200])
    await expect(hvp(g, referenceEngine(), { x: [2], y: [3] }, { x: [1] }, { wrt: ['y'] })).rejects.toThrow(BindingError)
    await expect(jvp(g, referenceEngine(), { x: [2], y: [3] }, { z: [1] })).rejects.toThrow(/unknown input 'z'/)
    await expect(hvp(g, referenceEngine(), { x: [2], y: [3] }, {}, { method: 'sideways' as 'forward-over-reverse' })).rejects.toThrow(/method must be/)
  })
})

describe('the zero-adjoint rule and kinks', () => {
  test("where(x > 0, sqrt(x), 0) at 0: gradient, JVP and HVP 0, as the engines' Jacobian", async () => {
    const g = parse('f = where(x > 0, sqrt(x), 0)')
    const x = [0, 0.25, 4]
    const ref = evaluateCpu(g, { x })
    expect(Array.from(ref.jacobian.f!.x!)).toEqual([0, 1, 0.25])
    expect(Array.from(evaluateCpu(gradientGraph(g), { x }).values.d_f_x!)).toEqual([0, 1, 0.25])
    expect(Array.from((await jvp(g, referenceEngine(), { x }, { x: 1 })).jvp.f!)).toEqual([0, 1, 0.25])
    // d²√x/dx² = -1/(4 x^1.5): -2 at 0.25, -1/32 at 4; 0 on the untaken branch.
    const H = await hessian(g, referenceEngine(), { x })
    expect(Array.from(H.f!.x!.x!)).toEqual([0, -2, -1 / 32])
    for (const method of ['forward-over-reverse', 'reverse-over-forward'] as const) expect(Array.from((await hvp(g, referenceEngine(), { x }, { x: 1 }, { method })).hvp.f!.x!)).toEqual([0, -2, -1 / 32])
  })

  test('the mask keeps second derivatives where the adjoint is 0: w·log(x) at w = 0', async () => {
    const g = parse('f = w * log(x)')
    const H = await hessian(g, referenceEngine(), { w: [0, 0], x: [1, 0] })
    // ∂²f/∂w∂x = 1/x: 1 at x = 1 although ∂f/∂x = w/x is 0 there; at x = 0, ∂f/∂x is masked to 0.
    expect(at(H.f!.w!.x, 0)).toBe(1)
    expect(at(H.f!.x!.w, 0)).toBe(1)
    expect(Array.from(evaluateCpu(gradientGraph(g), { w: [0], x: [0] }).values.d_f_x!)).toEqual(Array.from(evaluateCpu(g, { w: [0], x: [0] }).jacobian.f!.x!))
  })

  test('relu, abs, min, max: first derivatives at kinks as the engines, second derivatives 0', async () => {
    const g = parse('f = relu(x) * 3 + abs(x) * y + min(x, y) + max(x, y)')
    const x = [0, 0, -1, 1, 0.5]
    const y = [0, 1, -1, 1, 0.5]
    const ref = evaluateCpu(g, { x, y })
    const grads = evaluateCpu(gradientGraph(g), { x, y }).values
    expect(Array.from(grads.d_f_x!)).toEqual(Array.from(ref.jacobian.f!.x!))
    expect(Array.from(grads.d_f_y!)).toEqual(Array.from(ref.jacobian.f!.y!))
    const H = await hessian(g, referenceEngine(), { x, y })
    // Only abs(x)·y has a mixed term: ∂²/∂x∂y = sign(x) (0 at 0).
    expect(Array.from(H.f!.x!.y!)).toEqual([0, 0, -1, 1, 1])
    expect(Array.from(H.f!.x!.x!)).toEqual([0, 0, 0, 0, 0])
  })
})

describe('names, caching, errors', () => {
  test('generated names: gradient, tangent, jvp and hvp names; inputs kept in order', () => {
    const g = parse('u = x*y; v = sin(y)')
    expect(gradientGraph(g).inputs).toEqual(['x', 'y'])
    expect(gradientGraph(g).outputs).toEqual(['d_u_x', 'd_u_y', 'd_v_x', 'd_v_y'])
    expect(jvpGraph(g).inputs).toEqual(['x', 'y', 'tangent_x', 'tangent_y'])
    expect(jvpGraph(g).outputs).toEqual(['u', 'jvp_u', 'v', 'jvp_v'])
    expect(jvpGraph(g, { values: false }).outputs).toEqual(['jvp_u', 'jvp_v'])
    expect(hvpGraph(g, { wrt: ['y'] }).inputs).toEqual(['x', 'y', 'tangent_y'])
    expect(hvpGraph(g, { wrt: ['y'] }).outputs).toEqual(['hvp_u_y', 'hvp_v_y'])
  })

  test('clashes raise GraphError naming the name', () => {
    expect(() => jvpGraph(parse('f = x * tangent_x'))).toThrow(GraphError)
    expect(() => jvpGraph(parse('f = x * tangent_x'))).toThrow(/'tangent_x' clashes/)
    expect(() => jvpGraph(parse('f = x; jvp_f = x * 2'))).toThrow(/'jvp_f' clashes/)
    expect(() => hvpGraph(parse('f = x * hvp_f_x'))).toThrow(/'hvp_f_x' clashes/)
    const g = new Graph()
    const x = g.input('x_y')
    const y = g.input('y')
    g.output('f', x.mul(y))
    g.output('f_x', x.add(y))
    expect(() => gradientGraph(g)).toThrow(/'d_f_x_y' clashes/)
    expect(() => gradientGraph(parse('f = x * d_f_x'))).toThrow(/'d_f_x' clashes/)
    expect(() => gradientGraph(parse('f = x'), { wrt: ['z'] })).toThrow(/wrt: no input named 'z'/)
    expect(() => gradientGraph(new Graph())).toThrow(/no outputs/)
  })

  test('transformed graphs are cached per graph version', () => {
    const g = parse('f = x*y')
    const a = gradientGraph(g)
    expect(gradientGraph(g)).toBe(a)
    expect(jvpGraph(g)).toBe(jvpGraph(g))
    expect(hvpGraph(g)).toBe(hvpGraph(g))
    expect(gradientGraph(g, { wrt: ['x'] })).not.toBe(a)
    g.output('h', g.input('x').sin())
    const b = gradientGraph(g)
    expect(b).not.toBe(a)
    expect(b.outputs).toEqual(['d_f_x', 'd_f_y', 'd_h_x', 'd_h_y'])
  })

  test('constant and input outputs: gradients 1 and 0, Hessians 0', async () => {
    const g = new Graph()
    const x = g.input('x')
    g.input('y')
    g.output('c', 3)
    g.output('id', x)
    const r = evaluateCpu(gradientGraph(g), { x: [2], y: [5] }).values
    expect([r.d_c_x![0], r.d_c_y![0], r.d_id_x![0], r.d_id_y![0]]).toEqual([0, 0, 1, 0])
    const H = await hessian(g, referenceEngine(), { x: [2], y: [5] })
    expect(at(H.id!.x!.x, 0)).toBe(0)
  })
})

test('a 1000-node graph: transforms build fast; node counts', () => {
  const g = new Graph()
  const names = ['x0', 'x1', 'x2', 'x3']
  const r = rng(99)
  // Each step takes the previous node as its first argument, so the last node reaches them all.
  const steps = Array.from({ length: 500 }, (_, k) => ({ op: Math.floor(r() * SMOOTH_COUNT), a: names.length + k - 1, b: Math.floor(r() * 1e6) }))
  const pool = buildSmoothDag(g, names, steps)
  g.output('f', pool[pool.length - 1]!.expr)
  g.output('h', pool[pool.length - 2]!.expr)
  const live = levelize(g).liveCount
  const t0 = performance.now()
  const gg = gradientGraph(g)
  const t1 = performance.now()
  const jg = jvpGraph(g)
  const t2 = performance.now()
  const hg = hvpGraph(g)
  const t3 = performance.now()
  console.log(`[symbolic] ${g.nodeCount} nodes (${live} live): gradient graph ${gg.nodeCount} nodes in ${(t1 - t0).toFixed(1)} ms, JVP graph ${jg.nodeCount} in ${(t2 - t1).toFixed(1)} ms, HVP graph ${hg.nodeCount} in ${(t3 - t2).toFixed(1)} ms`)
  expect(live).toBeGreaterThanOrEqual(1000)
  expect(t3 - t0).toBeLessThan(5000)
  // Reverse and forward accumulation add a bounded number of nodes per edge.
  expect(gg.nodeCount).toBeLessThan(12 * g.nodeCount)
  expect(hg.nodeCount).toBeLessThan(12 * gg.nodeCount)
  // The transformed graphs still agree with the reference at a few points.
  const b = Object.fromEntries(names.map((n) => [n, [0.3, -1.2, 1.7]]))
  const ref = evaluateCpu(g, b)
  const got = evaluateCpu(gg, b).values
  for (const o of g.outputs) for (const i of names) ref.jacobian[o]![i]!.forEach((v, k) => same(at(got[`d_${o}_${i}`], k), v, `d_${o}_${i}[${k}]`))
})
