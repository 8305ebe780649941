/**
 * evaluateCpu: the result shape of DESIGN.md, Jacobians against finite differences of an
 * independent JS evaluation on random smooth DAGs, f32-faithful mode, bindings validation, NaN
 * isolation, the untaken-branch rule, tiling, and real functions with hand-derived Jacobians.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { BindingError, Graph, GraphError, evaluateCpu, parse, type Results } from '../../src/index.js'
import { SMOOTH_COUNT, at, buildSmoothDag, centralDiff4, expectClose, rng, uniform } from './helpers.js'

/** Checks the exact result shape: values[out] Float64Array(B), jacobian[out][input] Float64Array(B). */
function expectShape(r: Results<Float64Array>, g: Graph, size: number): void {
  expect(r.size).toBe(size)
  expect(Object.keys(r.values)).toEqual([...g.outputs])
  expect(Object.keys(r.jacobian)).toEqual([...g.outputs])
  for (const o of g.outputs) {
    expect(r.values[o]).toBeInstanceOf(Float64Array)
    expect(r.values[o]).toHaveLength(size)
    expect(Object.keys(r.jacobian[o]!)).toEqual([...g.inputs])
    for (const i of g.inputs) {
      expect(r.jacobian[o]![i]).toBeInstanceOf(Float64Array)
      expect(r.jacobian[o]![i]).toHaveLength(size)
    }
  }
}

describe('result shape', () => {
  test('values and jacobian rows per output and input, with size and backend', () => {
    const g = parse('f = x*y + sin(x); h = y^2')
    const r = evaluateCpu(g, { x: [1, 2, 3], y: [4, 5, 6] })
    expectShape(r, g, 3)
    expect(r.backend).toBe('cpu-reference-f64')
    expect(evaluateCpu(g, { x: [1], y: [2] }, { precision: 'f32' }).backend).toBe('cpu-reference-f32')
    // d(h)/dx = 0 is present, as zeros
    expect(Array.from(r.jacobian.h!.x!)).toEqual([0, 0, 0])
    expect(Array.from(r.jacobian.h!.y!)).toEqual([8, 10, 12])
    expect(Array.from(r.jacobian.f!.y!)).toEqual([1, 2, 3])
    expect(Array.from(r.jacobian.f!.x!)).toEqual([1, 2, 3].map((x, i) => [4, 5, 6][i]! + Math.cos(x)))
  })

  test('an unknown precision is a TypeError', () => {
    expect(() => evaluateCpu(parse('f = x'), { x: [1] }, { precision: 'f16' as 'f32' })).toThrow(TypeError)
  })
})

describe('Jacobian against finite differences on random smooth DAGs (f64)', () => {
  const dag = fc.record({
    inputs: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 25 }),
    outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    seed: fc.integer(),
  })

  test('values equal the JS evaluation; every Jacobian entry matches a 4th-order central difference', () => {
    fc.assert(
      fc.property(dag, ({ inputs, steps, outputs, seed }) => {
        const g = new Graph()
        const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
        const pool = buildSmoothDag(g, names, steps)
        const outs = outputs.map((o, k) => {
          const twin = pool[o % pool.length]!
          g.output(`f${k}`, twin.expr)
          return twin
        })
        const r = rng(seed)
        const B = 3
        const points = Array.from({ length: B }, () => names.map(() => uniform(r, -2, 2)))
        const bindings = Object.fromEntries(names.map((n, i) => [n, points.map((p) => p[i]!)]))
        const res = evaluateCpu(g, bindings)
        expectShape(res, g, B)
        outs.forEach((twin, k) => {
          points.forEach((p, b) => {
            const v = twin.f(p)
            expectClose(at(res.values[`f${k}`], b), v, 1e-13, `value f${k}`)
            names.forEach((n, i) => {
              const fd = centralDiff4((t) => twin.f(p.map((u, j) => (j === i ? t : u))), p[i]!, 1e-3)
              expectClose(at(res.jacobian[`f${k}`]?.[n], b), fd, 1e-7, `∂f${k}/∂${n} at ${p.join(', ')}`)
            })
          })
        })
      }),
      { numRuns: 150, seed: 2024 },
    )
  })

  test('f32 mode: every value and Jacobian entry is a float32', () => {
    fc.assert(
      fc.property(dag, ({ inputs, steps, outputs, seed }) => {
        const g = new Graph()
        const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
        const pool = buildSmoothDag(g, names, steps)
        outputs.forEach((o, k) => g.output(`f${k}`, pool[o % pool.length]!.expr))
        const r = rng(seed)
        const bindings = Object.fromEntries(names.map((n) => [n, Array.from({ length: 4 }, () => uniform(r, -2, 2))]))
        const res = evaluateCpu(g, bindings, { precision: 'f32' })
        for (const o of g.outputs) {
          for (const v of res.values[o]!) expect(Math.fround(v)).toBe(v)
          for (const n of names) for (const v of res.jacobian[o]![n]!) expect(Math.fround(v)).toBe(v)
        }
      }),
      { numRuns: 60, seed: 2025 },
    )
  })
})

describe('special outputs and inputs', () => {
  test('an output that is an input has Jacobian 1 to itself and 0 to the others', () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    g.output('same', x)
    g.output('f', x.mul(y))
    const r = evaluateCpu(g, { x: [2, -3], y: [5, 7] })
    expect(Array.from(r.values.same!)).toEqual([2, -3])
    expect(Array.from(r.jacobian.same!.x!)).toEqual([1, 1])
    expect(Array.from(r.jacobian.same!.y!)).toEqual([0, 0])
  })

  test('a constant output has value the constant and Jacobian 0', () => {
    const g = new Graph()
    const x = g.input('x')
    g.output('k', 2.5)
    g.output('folded', g.constant(2).mul(3))
    g.output('f', x.sin())
    const r = evaluateCpu(g, { x: [0.1, 0.2] })
    expect(Array.from(r.values.k!)).toEqual([2.5, 2.5])
    expect(Array.from(r.values.folded!)).toEqual([6, 6])
    expect(Array.from(r.jacobian.k!.x!)).toEqual([0, 0])
  })

  test('an unused input has Jacobian 0 and still needs a binding', () => {
    const g = new Graph()
    const x = g.input('x')
    g.input('unused')
    g.output('f', x.mul(x))
    const r = evaluateCpu(g, { x: [3], unused: [NaN] })
    expect(at(r.values.f, 0)).toBe(9)
    expect(at(r.jacobian.f?.x, 0)).toBe(6)
    expect(at(r.jacobian.f?.unused, 0)).toBe(0)
    expect(() => evaluateCpu(g, { x: [3] })).toThrow(BindingError)
  })

  test('x*0 still depends on x: NaN and ∞ propagate through it', () => {
    // d(x·0)/dx = 0 for finite x; x = ∞ makes the value NaN
    const g = parse('f = x*0')
    const r = evaluateCpu(g, { x: [2, Infinity] })
    expect(at(r.values.f, 0)).toBe(0)
    expect(at(r.values.f, 1)).toBeNaN()
    expect(at(r.jacobian.f?.x, 0)).toBe(0)
  })
})

describe('bindings', () => {
  const g = parse('f = x*y')

  test('number[], Float32Array and Float64Array are accepted', () => {
    const xs = [0.1, -2, 3.5]
    const ys = [4, 0.3, -1]
    for (const [bx, by] of [
      [xs, ys],
      [new Float64Array(xs), new Float64Array(ys)],
      [new Float32Array(xs), ys],
      [new Int16Array([1, 2, 3]), new Float32Array(ys)],
    ] as const) {
      const r = evaluateCpu(g, { x: bx, y: by })
      for (let b = 0; b < 3; b++) {
        expect(at(r.values.f, b)).toBe(bx[b]! * by[b]!)
        expect(at(r.jacobian.f?.x, b)).toBe(by[b]!)
        expect(at(r.jacobian.f?.y, b)).toBe(bx[b]!)
      }
    }
  })

  test('BindingError: missing, unknown, unequal lengths, non-array, non-number element, non-object', () => {
    expect(() => evaluateCpu(g, { x: [1] })).toThrow(/missing binding for 'y'/)
    expect(() => evaluateCpu(g, { x: [1], y: [1], z: [1] })).toThrow(/unknown input 'z'/)
    expect(() => evaluateCpu(g, { x: [1, 2], y: [1] })).toThrow(/unequal lengths/)
    expect(() => evaluateCpu(g, { x: [1], y: [1, 2] })).toThrow(/unequal lengths/)
    expect(() => evaluateCpu(g, { x: [], y: [1] })).toThrow(/unequal lengths/)
    expect(() => evaluateCpu(g, { x: {} as unknown as number[], y: [1] })).toThrow(/'x'/)
    expect(() => evaluateCpu(g, { x: { buffer: { mapAsync() {}, size: 64 }, length: 1 } as unknown as number[], y: [1] })).toThrow(/only the GPU engine/)
    expect(() => evaluateCpu(g, { x: 'abc' as unknown as number[], y: [1, 2, 3] })).toThrow(BindingError)
    expect(() => evaluateCpu(g, { x: [1, '2'] as unknown as number[], y: [1, 2] })).toThrow(/'x'\[1\]/)
    expect(() => evaluateCpu(g, { x: [1, undefined] as unknown as number[], y: [1, 2] })).toThrow(BindingError)
    // eslint-disable-next-line no-sparse-arrays
    expect(() => evaluateCpu(g, { x: [1, , 3] as unknown as number[], y: [1, 2, 3] })).toThrow(BindingError)
    expect(() => evaluateCpu(g, { x: new DataView(new ArrayBuffer(8)) as unknown as number[], y: [1] })).toThrow(BindingError)
    for (const bad of [null, undefined, [[1], [2]], 7, 'x']) {
      expect(() => evaluateCpu(g, bad as unknown as Record<string, number[]>)).toThrow(BindingError)
    }
    for (const e of [() => evaluateCpu(g, { x: [1] }), () => evaluateCpu(g, { x: [1], y: [1], z: [1] })]) {
      expect(e).toThrow(BindingError)
    }
  })

  test('B = 0 returns empty arrays of the right shape', () => {
    const r = evaluateCpu(g, { x: [], y: new Float32Array(0) })
    expectShape(r, g, 0)
  })

  test('a graph with no inputs has exactly one binding', () => {
    const h = parse('f = 2*3 + 1')
    const r = evaluateCpu(h, {})
    expectShape(r, h, 1)
    expect(at(r.values.f, 0)).toBe(7)
    expect(r.jacobian.f).toEqual({})
    expect(() => evaluateCpu(h, { x: [1] })).toThrow(BindingError)
  })

  test('NaN or ∞ in one binding poisons only that binding', () => {
    const h = parse('f = x*y + sin(x)')
    const xs = [0.5, 1, NaN, 2, Infinity, -1]
    const ys = [2, 3, 4, 5, 6, 7]
    const r = evaluateCpu(h, { x: xs, y: ys })
    for (let b = 0; b < xs.length; b++) {
      const x = xs[b]!
      const y = ys[b]!
      if (Number.isFinite(x)) {
        expect(at(r.values.f, b)).toBe(x * y + Math.sin(x))
        // ∂f/∂x = y + cos x, ∂f/∂y = x
        expect(at(r.jacobian.f?.x, b)).toBe(y + Math.cos(x))
        expect(at(r.jacobian.f?.y, b)).toBe(x)
      } else {
        expect(at(r.values.f, b)).toBeNaN()
        expect(at(r.jacobian.f?.x, b)).toBeNaN()
      }
    }
  })

  test('the input arrays are not modified', () => {
    const xs = [1, 2, 3]
    const ys = new Float64Array([4, 5, 6])
    evaluateCpu(g, { x: xs, y: ys })
    expect(xs).toEqual([1, 2, 3])
    expect(Array.from(ys)).toEqual([4, 5, 6])
  })
})

describe('untaken branches', () => {
  test('where(x > 0, sqrt(x), 0): value and gradient 0 at x = 0 and x < 0, not NaN', () => {
    const g = parse('f = where(x > 0, sqrt(x), 0)')
    for (const precision of ['f64', 'f32'] as const) {
      const r = evaluateCpu(g, { x: [0, 4, -1, 0.25] }, { precision })
      expect(Array.from(r.values.f!)).toEqual([0, 2, 0, 0.5])
      // d√x/dx = 1/(2√x)
      expect(Array.from(r.jacobian.f!.x!)).toEqual([0, 0.25, 0, 1])
    }
  })

  test('where(x != 0, sin(x)/x, 1) at 0', () => {
    const g = parse('f = where(x != 0, sin(x)/x, 1)')
    const r = evaluateCpu(g, { x: [0, 1] })
    expect(Array.from(r.values.f!)).toEqual([1, Math.sin(1)])
    expect(at(r.jacobian.f?.x, 0)).toBe(0)
    // d/dx sin x / x = (x cos x - sin x)/x²
    expect(at(r.jacobian.f?.x, 1)).toBeCloseTo(Math.cos(1) - Math.sin(1), 15)
  })

  test('x^3 with a negative base differentiates by the power rule: (-2)³ = -8, 3·4 = 12', () => {
    const r = evaluateCpu(parse('f = x^3'), { x: [-2, 2] })
    expect(Array.from(r.values.f!)).toEqual([-8, 8])
    expect(Array.from(r.jacobian.f!.x!)).toEqual([12, 12])
  })

  test('relu, abs, min, max at their kinks', () => {
    const g = parse('r = relu(x); a = abs(x); lo = min(x, y); hi = max(x, y)')
    const r = evaluateCpu(g, { x: [0, 1], y: [0, 1] })
    expect(Array.from(r.jacobian.r!.x!)).toEqual([0, 1])
    expect(Array.from(r.jacobian.a!.x!)).toEqual([0, 1])
    expect(Array.from(r.jacobian.lo!.x!)).toEqual([1, 1])
    expect(Array.from(r.jacobian.lo!.y!)).toEqual([0, 0])
    expect(Array.from(r.jacobian.hi!.x!)).toEqual([1, 1])
    expect(Array.from(r.jacobian.hi!.y!)).toEqual([0, 0])
  })
})

describe('tiling', () => {
  test('B = 10000 (more than one 4096 tile) equals evaluating each binding alone', () => {
    const g = parse('f = sin(x*y) + x^2*exp(-y); h = tanh(x - y)')
    const B = 10_000
    const r = rng(5)
    const xs = Float64Array.from({ length: B }, () => uniform(r, -2, 2))
    const ys = Float64Array.from({ length: B }, () => uniform(r, -2, 2))
    const all = evaluateCpu(g, { x: xs, y: ys })
    for (let b = 0; b < B; b++) {
      const one = evaluateCpu(g, { x: [xs[b]!], y: [ys[b]!] })
      for (const o of ['f', 'h']) {
        expect(at(all.values[o], b)).toBe(at(one.values[o], 0))
        for (const i of ['x', 'y']) expect(at(all.jacobian[o]?.[i], b)).toBe(at(one.jacobian[o]?.[i], 0))
      }
    }
    // and the closed form: ∂f/∂x = y cos(xy) + 2x e^{-y}, ∂f/∂y = x cos(xy) - x² e^{-y}
    for (const b of [0, 4095, 4096, 8191, 8192, B - 1]) {
      const x = xs[b]!
      const y = ys[b]!
      expectClose(at(all.values.f, b), Math.sin(x * y) + x * x * Math.exp(-y), 1e-14, 'f')
      expectClose(at(all.jacobian.f?.x, b), y * Math.cos(x * y) + 2 * x * Math.exp(-y), 1e-14, 'df/dx')
      expectClose(at(all.jacobian.f?.y, b), x * Math.cos(x * y) - x * x * Math.exp(-y), 1e-14, 'df/dy')
      const t = Math.tanh(x - y)
      expectClose(at(all.jacobian.h?.y, b), -(1 - t * t), 1e-14, 'dh/dy')
    }
  })

  test('a graph too big for 4096-wide tiles: batch equals per-binding evaluation', () => {
    // ~1200 live nodes: the tile is cut to fit the memory budget, well below 4096
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    let e = x
    for (let i = 0; i < 600; i++) e = e.mul(y.mul(0.001 * (i + 1)).cos()).add(0.001)
    g.output('f', e)
    const B = 2500
    const r = rng(6)
    const xs = Array.from({ length: B }, () => uniform(r, -1, 1))
    const ys = Array.from({ length: B }, () => uniform(r, -1, 1))
    const all = evaluateCpu(g, { x: xs, y: ys })
    for (let b = 0; b < B; b += 7) {
      const one = evaluateCpu(g, { x: [xs[b]!], y: [ys[b]!] })
      expect(at(all.values.f, b)).toBe(at(one.values.f, 0))
      expect(at(all.jacobian.f?.x, b)).toBe(at(one.jacobian.f?.x, 0))
      expect(at(all.jacobian.f?.y, b)).toBe(at(one.jacobian.f?.y, 0))
    }
    // ∂f/∂x = Π cos(0.001·i·y)
    for (const b of [0, B - 1]) {
      let p = 1
      for (let i = 0; i < 600; i++) p *= Math.cos(ys[b]! * 0.001 * (i + 1))
      expectClose(at(all.jacobian.f?.x, b), p, 1e-12, 'df/dx')
    }
  })
})

/** erf by its Maclaurin series (alternating; fine to ~1e-14 for |x| ≤ 2.5), independent of ops.ts. */
function erfSeries(x: number): number {
  if (Math.abs(x) > 2.5) throw new Error(`erfSeries(${x}): outside the range where the series is accurate`)
  let term = x
  let sum = x
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n
    const add = term / (2 * n + 1)
    sum += add
    if (Math.abs(add) < 1e-18 * Math.abs(sum)) break
  }
  return (2 / Math.sqrt(Math.PI)) * sum
}
const N = (z: number) => 0.5 * (1 + erfSeries(z / Math.SQRT2))
const phi = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI)

describe('real functions with hand-derived Jacobians (1e-9 relative)', () => {
  test('Rosenbrock', () => {
    const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
    expect(g.inputs).toEqual(['x', 'y'])
    const r = rng(11)
    const xs = [1, 0, -1.2, ...Array.from({ length: 50 }, () => uniform(r, -2, 2))]
    const ys = [1, 0, 1, ...Array.from({ length: 50 }, () => uniform(r, -1, 3))]
    const res = evaluateCpu(g, { x: xs, y: ys })
    xs.forEach((x, b) => {
      const y = ys[b]!
      expectClose(at(res.values.f, b), (1 - x) ** 2 + 100 * (y - x * x) ** 2, 1e-9, 'f')
      expectClose(at(res.jacobian.f?.x, b), -2 * (1 - x) - 400 * x * (y - x * x), 1e-9, 'df/dx')
      expectClose(at(res.jacobian.f?.y, b), 200 * (y - x * x), 1e-9, 'df/dy')
    })
    // the minimum
    expect(at(res.values.f, 0)).toBe(0)
    // (The sign of a zero sum is not pinned: its terms are -0 here.)
    expect([at(res.jacobian.f?.x, 0) + 0, at(res.jacobian.f?.y, 0) + 0]).toEqual([0, 0])
  })

  test('Black–Scholes call: price and all five Greeks', () => {
    const g = parse(`
      # European call, N(z) = (1 + erf(z/√2))/2
      vol = sigma * sqrt(T)
      d1 = (log(S / K) + (r + sigma^2 / 2) * T) / vol
      d2 = d1 - vol
      call = S * (1 + erf(d1 / sqrt(2))) / 2 - K * exp(-r * T) * (1 + erf(d2 / sqrt(2))) / 2
    `)
    expect(g.outputs).toEqual(['call'])
    expect(g.inputs).toEqual(['sigma', 'T', 'S', 'K', 'r'])
    const rand = rng(12)
    const B = 40
    // ranges that keep |d1|, |d2| below ~2.5, where the oracle's erf series is accurate
    const S = Array.from({ length: B }, () => uniform(rand, 80, 120))
    const K = Array.from({ length: B }, () => uniform(rand, 90, 110))
    const r = Array.from({ length: B }, () => uniform(rand, 0, 0.08))
    const sigma = Array.from({ length: B }, () => uniform(rand, 0.2, 0.6))
    const T = Array.from({ length: B }, () => uniform(rand, 0.5, 3))
    const res = evaluateCpu(g, { S, K, r, sigma, T })
    for (let b = 0; b < B; b++) {
      const [s, k, rr, v, t] = [S[b]!, K[b]!, r[b]!, sigma[b]!, T[b]!]
      const d1 = (Math.log(s / k) + (rr + (v * v) / 2) * t) / (v * Math.sqrt(t))
      const d2 = d1 - v * Math.sqrt(t)
      const disc = Math.exp(-rr * t)
      expectClose(at(res.values.call, b), s * N(d1) - k * disc * N(d2), 1e-9, 'price')
      expectClose(at(res.jacobian.call?.S, b), N(d1), 1e-9, 'delta')
      expectClose(at(res.jacobian.call?.K, b), -disc * N(d2), 1e-9, 'dC/dK')
      expectClose(at(res.jacobian.call?.sigma, b), s * phi(d1) * Math.sqrt(t), 1e-9, 'vega')
      expectClose(at(res.jacobian.call?.r, b), k * t * disc * N(d2), 1e-9, 'rho')
      expectClose(at(res.jacobian.call?.T, b), (s * phi(d1) * v) / (2 * Math.sqrt(t)) + rr * k * disc * N(d2), 1e-9, 'dC/dT')
    }
  })

  test('a tiny tanh network: gradients to inputs and to weights', () => {
    // y = Σ_j v_j tanh(w_j1 x1 + w_j2 x2 + b_j) + c
    const g = parse(`
      h1 = tanh(w11*x1 + w12*x2 + b1)
      h2 = tanh(w21*x1 + w22*x2 + b2)
      h3 = tanh(w31*x1 + w32*x2 + b3)
      y = v1*h1 + v2*h2 + v3*h3 + c
    `)
    const rand = rng(13)
    const names = g.inputs
    const B = 20
    const bind = Object.fromEntries(names.map((n) => [n, Array.from({ length: B }, () => uniform(rand, -1.5, 1.5))]))
    const res = evaluateCpu(g, bind)
    const get = (n: string, b: number) => bind[n]![b]!
    for (let b = 0; b < B; b++) {
      const x = [get('x1', b), get('x2', b)]
      let y = get('c', b)
      const grad: Record<string, number> = { c: 1, x1: 0, x2: 0 }
      for (let j = 1; j <= 3; j++) {
        const w = [get(`w${j}1`, b), get(`w${j}2`, b)]
        const v = get(`v${j}`, b)
        const h = Math.tanh(w[0]! * x[0]! + w[1]! * x[1]! + get(`b${j}`, b))
        y += v * h
        const dpre = v * (1 - h * h)
        grad[`v${j}`] = h
        grad[`b${j}`] = dpre
        grad[`w${j}1`] = dpre * x[0]!
        grad[`w${j}2`] = dpre * x[1]!
        grad.x1! += dpre * w[0]!
        grad.x2! += dpre * w[1]!
      }
      expectClose(at(res.values.y, b), y, 1e-9, 'y')
      for (const n of names) expectClose(at(res.jacobian.y?.[n], b), grad[n]!, 1e-9, `dy/d${n}`)
    }
  })
})

describe('f32-faithful mode', () => {
  test('close to f64 on well-conditioned graphs, and every number a float32', () => {
    const g = parse(`
      h = tanh(0.7*x - 0.3*y + 0.1)
      f = exp(-x^2/4) * (2 + sin(y)) + h
      q = sqrt(1 + x^2 + y^2) * sigmoid(x*y)
    `)
    const rand = rng(14)
    const B = 500
    const xs = Array.from({ length: B }, () => Math.fround(uniform(rand, -2, 2)))
    const ys = Array.from({ length: B }, () => Math.fround(uniform(rand, -2, 2)))
    const r64 = evaluateCpu(g, { x: xs, y: ys })
    const r32 = evaluateCpu(g, { x: xs, y: ys }, { precision: 'f32' })
    for (const o of g.outputs) {
      for (let b = 0; b < B; b++) {
        const v = at(r32.values[o], b)
        expect(Math.fround(v)).toBe(v)
        expectClose(v, at(r64.values[o], b), 1e-5, `${o} value`)
        for (const i of g.inputs) {
          const d = at(r32.jacobian[o]?.[i], b)
          expect(Math.fround(d)).toBe(d)
          expectClose(d, at(r64.jacobian[o]?.[i], b), 1e-5, `d${o}/d${i}`)
        }
      }
    }
  })

  test('rounds the inputs and constants too', () => {
    const g = parse('f = x + 0.1')
    const r = evaluateCpu(g, { x: [0.2] }, { precision: 'f32' })
    expect(at(r.values.f, 0)).toBe(Math.fround(Math.fround(0.2) + Math.fround(0.1)))
    expect(at(r.values.f, 0)).not.toBe(0.2 + 0.1)
  })
})

test('a number binds the same value to every binding (broadcast)', () => {
  const g = parse('f = a * x^2')
  const x = [1, 2, 3]
  const broadcast = evaluateCpu(g, { a: 0.5, x })
  const spelled = evaluateCpu(g, { a: [0.5, 0.5, 0.5], x })
  expect(broadcast.size).toBe(3)
  expect(broadcast.values.f).toEqual(spelled.values.f)
  expect(broadcast.jacobian.f!.a).toEqual(Float64Array.from([1, 4, 9]))
  expect(broadcast.jacobian.f!.x).toEqual(Float64Array.from([1, 2, 3]))
  // Only numbers: one binding.
  expect(evaluateCpu(g, { a: 2, x: 3 }).values.f).toEqual(Float64Array.from([18]))
})

test('a graph without outputs is a GraphError, not an empty result', () => {
  const g = new Graph()
  g.input('x')
  expect(() => evaluateCpu(g, { x: [1] })).toThrow(GraphError)
  expect(() => evaluateCpu(g, { x: [1] })).toThrow(/no outputs/)
})

test('any ArrayLike<number> binds, as DESIGN.md says (checked element by element)', () => {
  const g = parse('f = x * y')
  const x = { length: 2, 0: 3, 1: 4 }
  const r = evaluateCpu(g, { x, y: [2, 0.5] })
  expect(Array.from(r.values.f!)).toEqual([6, 2])
  expect(Array.from(r.jacobian.f!.y!)).toEqual([3, 4])
  expect(() => evaluateCpu(g, { x: { length: 1, 0: 'a' } as unknown as ArrayLike<number>, y: [1] })).toThrow(/'x'\[0\]/)
})
