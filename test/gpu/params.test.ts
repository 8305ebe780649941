/**
 * Parameters on the GPU: batch-summed gradients by a deterministic tree reduction. Checked against
 * the float64 sums of the per-binding Jacobian (a twin graph with the parameters as inputs), on
 * every tier and a segmented plan; the same bits on every run; other tile sizes within the f32
 * bound of a 64-term sum; zero weights drop their bindings; `sumsOnly` reads back nothing of size B.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BindingError, createGpuEngine, evaluateCpu, Graph, type Expr, type GpuEngine } from '../../src/index.js'
import { randomArray, rng } from './setup.js'

/** a·tanh(b·x) + c fitted to y: loss per binding, and a second output. a, b, c parameters or inputs. */
function model(asParams: boolean): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  const p = (n: string): Expr => (asParams ? g.param(n) : g.input(n))
  const [a, b, c] = [p('a'), p('b'), p('c')]
  g.output('loss', a.mul(x.mul(b).tanh()).add(c).sub(y).pow(2))
  g.output('m', a.mul(x.sin()).add(c.mul(y)))
  return g
}

const P = { a: 0.8, b: 1.7, c: -0.25 }
const B = 100_003
const r = rng(31)
const x = randomArray(r, B, -2, 2)
const y = randomArray(r, B, -1, 1)
const w = randomArray(r, B, 0, 1)

/** float64 Σ_b w_b·J_b and Σ_b |w_b·J_b| per output and parameter, from the twin graph. */
const twin = evaluateCpu(model(false), { x, y, a: new Float64Array(B).fill(P.a), b: new Float64Array(B).fill(P.b), c: new Float64Array(B).fill(P.c) })
function sums(weights?: Float32Array): { sum: Record<string, Record<string, number>>; abs: Record<string, Record<string, number>> } {
  const sum: Record<string, Record<string, number>> = {}
  const abs: Record<string, Record<string, number>> = {}
  for (const o of ['loss', 'm']) {
    sum[o] = {}
    abs[o] = {}
    for (const p of ['a', 'b', 'c']) {
      let s = 0
      let t = 0
      for (let i = 0; i < B; i++) {
        const v = (weights ? weights[i]! : 1) * twin.jacobian[o]![p]![i]!
        s += v
        t += Math.abs(v)
      }
      sum[o]![p] = s
      abs[o]![p] = t
    }
  }
  return { sum, abs }
}

/** |got - want| ≤ k · Σ|terms| · 2^-24 for every gradient: k ulp of the sum of magnitudes. */
function expectWithin(got: Record<string, Record<string, number>>, want: ReturnType<typeof sums>, k: number): void {
  for (const o of ['loss', 'm']) {
    for (const p of ['a', 'b', 'c']) {
      const err = Math.abs(got[o]![p]! - want.sum[o]![p]!)
      expect(err, `${o}/${p}: ${got[o]![p]} vs ${want.sum[o]![p]}`).toBeLessThanOrEqual(k * want.abs[o]![p]! * 2 ** -24)
    }
  }
}

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

describe('parameter gradients on the GPU', () => {
  test('match the float64 batch sums on every tier and a segmented plan; parameter rows are not read back', async () => {
    const g = model(true)
    const want = sums()
    const wantW = sums(w)
    const segmented = await createGpuEngine({ tier: 'fused', segmentCost: 4 })
    try {
      for (const [who, run] of [
        ['fused', (o = {}) => engine.evaluate(g, { x, y, ...P }, o)],
        ['interpreter', (o = {}) => engine.evaluate(g, { x, y, ...P }, { ...o, tier: 'interpreter' })],
        ['segmented', (o = {}) => segmented.evaluate(g, { x, y, ...P }, o)],
      ] as const) {
        const plain = await run()
        expect(Object.keys(plain.jacobian.loss!), who).toEqual(['x', 'y'])
        // Each partial sums 64 f32 terms (error ≤ ~6 ulp of Σ|terms|), the f32 terms themselves
        // carry a few ulp: 64 ulp of Σ|terms| bounds both.
        expectWithin(plain.gradients!, want, 64)
        expectWithin((await run({ weights: w })).gradients!, wantW, 64)
      }
      expect(segmented.compile(g).plan.kernels.length).toBeGreaterThan(1)
    } finally {
      segmented.destroy()
    }
  })

  test('deterministic: the same bits on every run; another tile size differs only within the f32 bound', async () => {
    const g = model(true)
    const runs = await Promise.all(Array.from({ length: 5 }, () => engine.evaluate(g, { x, y, ...P }, { weights: w })))
    for (const run of runs) expect(run.gradients).toEqual(runs[0]!.gradients)
    const small = await createGpuEngine({ maxTileSize: 7777 })
    try {
      const other = await small.evaluate(g, { x, y, ...P }, { weights: w })
      const again = await small.evaluate(g, { x, y, ...P }, { weights: w })
      expect(again.gradients).toEqual(other.gradients)
      expectWithin(other.gradients!, sums(w), 64)
      // 7777 is no multiple of 64: the partials cover other bindings, so the bits may differ, within the bound above.
      const diff = Math.abs(other.gradients!.loss!.b! - runs[0]!.gradients!.loss!.b!)
      expect(diff).toBeLessThanOrEqual(128 * sums(w).abs.loss!.b! * 2 ** -24)
    } finally {
      small.destroy()
    }
  })

  test('a zero weight drops a binding whose Jacobian is NaN; sumsOnly returns totals and gradients only', async () => {
    const g = new Graph()
    const xx = g.input('x')
    const a = g.param('a')
    g.output('f', a.mul(xx.sqrt()))
    const xs = new Float32Array(5000).map((_, i) => (i % 7 === 3 ? -1 : (i % 13) + 1))
    const ws = new Float32Array(5000).map((_, i) => (i % 7 === 3 ? 0 : 0.5))
    const gpu = await engine.evaluate(g, { x: xs, a: 2 }, { weights: ws })
    const ref = evaluateCpu(g, { x: xs, a: 2 }, { weights: ws })
    expect(Number.isFinite(ref.gradients!.f!.a!)).toBe(true)
    expect(Math.abs(gpu.gradients!.f!.a! - ref.gradients!.f!.a!)).toBeLessThan(1e-6 * Math.abs(ref.gradients!.f!.a!))
    const only = await engine.evaluate(g, { x: xs, a: 2 }, { weights: ws, sumsOnly: true })
    expect(only.values).toEqual({})
    expect(only.jacobian).toEqual({})
    let total = 0
    for (let i = 0; i < xs.length; i++) if (ws[i] !== 0) total += ws[i]! * 2 * Math.sqrt(xs[i]!)
    expect(Math.abs(only.totals!.f! - total)).toBeLessThan(1e-6 * total)
    expect(only.gradients).toEqual(gpu.gradients)
  })

  test('a parameter bound to an array, or weights of the wrong length, are BindingErrors; the engine goes on', async () => {
    const g = model(true)
    await expect(engine.evaluate(g, { x, y, a: x, b: 1, c: 0 })).rejects.toThrow(BindingError)
    await expect(engine.evaluate(g, { x, y, ...P }, { weights: new Float32Array(3) })).rejects.toThrow(/weights has 3 elements/)
    const ok = await engine.evaluate(g, { x, y, ...P })
    expectWithin(ok.gradients!, sums(), 64)
  })

  test('gradient descent on the GPU fits a model (few iterations, 2^16 points)', async () => {
    const g = new Graph()
    const xx = g.input('x')
    const yy = g.input('y')
    const [a, b] = [g.param('a'), g.param('b')]
    const n = 1 << 16
    g.output('loss', a.mul(xx).add(b).sub(yy).pow(2).mul(1 / n))
    const rr = rng(5)
    const xs = randomArray(rr, n, -1, 1)
    const ys = xs.map((v) => 3 * v - 0.5)
    const kernel = engine.compile(g)
    let p = { a: 0, b: 0 }
    let first = 0
    let last = 0
    for (let it = 0; it < 40; it++) {
      const step = await kernel.run({ x: xs, y: ys, ...p }, { sumsOnly: true })
      if (it === 0) first = step.totals!.loss!
      last = step.totals!.loss!
      p = { a: p.a - 0.5 * step.gradients!.loss!.a!, b: p.b - 0.5 * step.gradients!.loss!.b! }
    }
    expect(last).toBeLessThan(first * 1e-3)
    expect(p.a).toBeCloseTo(3, 2)
    expect(p.b).toBeCloseTo(-0.5, 2)
  })
})
