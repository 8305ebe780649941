/**
 * Forward mode and second order on the real adapter, fused, interpreter and segmented tiers: the transformed
 * graphs (JVP, gradient, HVP) run unchanged on the GPU engine; JVPs match the f32-faithful reference
 * of the same graph and the f64 J·t, Hessians the hand-derived closed forms, HVPs H·v from the f64
 * Hessian, and the zero-adjoint mask holds in f32. Graphs stay under ~60 nodes after transformation
 * (the software adapter compiles big fused kernels slowly).
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createGpuEngine, evaluateCpu, Graph, parse, type GpuEngine } from '../../src/index.js'
import { gradientGraph, hessian, hvp, jvp, jvpGraph, referenceEngine } from '../../src/transform.js'
import { SMOOTH_COUNT, buildSmoothDag } from '../core/helpers.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

let fused: GpuEngine
let interpreter: GpuEngine
let segmented: GpuEngine

beforeAll(async () => {
  fused = await createGpuEngine({ tier: 'fused' })
  interpreter = await createGpuEngine({ device: fused.device, tier: 'interpreter' })
  // A tiny compile budget cuts every fused kernel into segments (plan.ts).
  segmented = await createGpuEngine({ device: fused.device, tier: 'fused', segmentCost: 20 })
})
afterAll(() => {
  segmented?.destroy()
  interpreter?.destroy()
  fused?.destroy()
})

/** Largest scaled error of a row against an f64 row, as compareResults scales it. */
function scaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let peak = 0
  for (let i = 0; i < want.length; i++) peak = Math.max(peak, Math.abs(want[i]!))
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1e-2 * peak + 1e-6))
  expect(got.length).toBe(want.length)
  return Number.isNaN(worst) ? Infinity : worst
}

const B = 1000

/** f32 bindings in a box, and the same numbers as f64 for the reference. */
function box(domain: Record<string, [number, number]>, seed: number): Record<string, Float32Array<ArrayBuffer>> {
  const r = rng(seed)
  return Object.fromEntries(Object.entries(domain).map(([k, [lo, hi]]) => [k, randomArray(r, B, lo, hi)]))
}

const closedForms = [
  { src: 'f = (1-x)^2 + 100*(y-x^2)^2', domain: { x: [-2, 2], y: [-1, 3] } },
  { src: 'f = sin(x) * exp(y)', domain: { x: [-3, 3], y: [-2, 2] } },
  { src: 'f = x^3 * y^2 + log(x)', domain: { x: [0.2, 3], y: [-2, 2] } },
  { src: 'f = tanh(w*x + b)', domain: { w: [-2, 2], x: [-2, 2], b: [-1, 1] } },
] as const

/** Hand-derived Hessians of the closed forms, in f64. */
function handHessian(src: string, p: Record<string, number>): Record<string, Record<string, number>> {
  const { x = NaN, y = NaN, w = NaN, b = NaN } = p
  if (src.startsWith('f = (1-x)')) return { x: { x: 1200 * x * x - 400 * y + 2, y: -400 * x }, y: { x: -400 * x, y: 200 } }
  if (src.startsWith('f = sin')) return { x: { x: -Math.sin(x) * Math.exp(y), y: Math.cos(x) * Math.exp(y) }, y: { x: Math.cos(x) * Math.exp(y), y: Math.sin(x) * Math.exp(y) } }
  if (src.startsWith('f = x^3')) return { x: { x: 6 * x * y * y - 1 / (x * x), y: 6 * x * x * y }, y: { x: 6 * x * x * y, y: 2 * x ** 3 } }
  const t = Math.tanh(w * x + b)
  const d1 = 1 - t * t
  const d2 = -2 * t * d1
  return { w: { w: x * x * d2, x: d1 + w * x * d2, b: x * d2 }, x: { w: d1 + w * x * d2, x: w * w * d2, b: w * d2 }, b: { w: x * d2, x: w * d2, b: d2 } }
}

describe.each(['fused', 'interpreter', 'segmented'] as const)('tier %s', (tier) => {
  const engine = () => (tier === 'fused' ? fused : tier === 'interpreter' ? interpreter : segmented)

  test('JVP on random smooth DAGs: the f32 reference of the JVP graph, and f64 J·t', async () => {
    let worst = 0
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          inputs: fc.integer({ min: 1, max: 3 }),
          steps: fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 6 }),
          seed: fc.nat(),
        }),
        async ({ inputs, steps, seed }) => {
          const g = new Graph()
          const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
          const pool = buildSmoothDag(g, names, steps)
          g.output('f', pool[pool.length - 1]!.expr)
          const r = rng(seed)
          const bindings = Object.fromEntries(names.map((n) => [n, randomArray(r, B, -2, 2)]))
          const tangents = Object.fromEntries(names.map((n) => [n, randomArray(r, B, -1, 1)]))
          const jg = jvpGraph(g)
          const all = { ...bindings, ...Object.fromEntries(names.map((n) => [`tangent_${n}`, tangents[n]!])) }
          const gpu = await engine().evaluate(jg, all)
          expect(gpu.tier).toBe(tier === 'interpreter' ? 'interpreter' : 'fused')
          expectMatchesReference(gpu, jg, all, 1e-4)
          const ref = evaluateCpu(g, bindings)
          const Jt = new Float64Array(B).map((_, b) => names.reduce((s, n) => s + ref.jacobian.f![n]![b]! * tangents[n]![b]!, 0))
          const got = await jvp(g, engine(), bindings, tangents)
          expect(got.backend).toMatch(/^webgpu: /)
          const e = scaledError(got.jvp.f!, Jt)
          worst = Math.max(worst, e)
          expect(e).toBeLessThan(1e-3)
        },
      ),
      { numRuns: 4, seed: 7 },
    )
    console.log(`[symbolic] ${tier}: JVP vs f64 J·t, worst scaled error ${worst.toExponential(2)}`)
  })

  test('Hessians of the closed forms vs hand math; HVPs (both methods) vs f64 H·v', async () => {
    // Segmented kernels compile slowly on the software adapter: two of the four there.
    for (const [k, { src, domain }] of closedForms.entries()) {
      if (tier === 'segmented' && (k === 1 || k === 2)) continue
      const g = parse(src)
      if (tier === 'segmented') expect(engine().compile(gradientGraph(g)).plan.kernels.length).toBeGreaterThan(1)
      const bindings = box(domain as unknown as Record<string, [number, number]>, 31 + k)
      const vectors = box(Object.fromEntries(g.inputs.map((i) => [i, [-1, 1]])), 41 + k)
      const H = await hessian(g, engine(), bindings)
      let worstH = 0
      const want: Record<string, Record<string, Float64Array>> = {}
      for (const i of g.inputs) for (const j of g.inputs) {
        const row = ((want[i] ??= {})[j] = new Float64Array(B).map((_, b) => handHessian(src, Object.fromEntries(g.inputs.map((n) => [n, bindings[n]![b]!])))[i]![j]!))
        expect(H.f![i]![j]).toBeInstanceOf(Float32Array)
        worstH = Math.max(worstH, scaledError(H.f![i]![j]!, row))
      }
      expect(worstH, `${src}: Hessian`).toBeLessThan(2e-4)
      // The f64 Hessian of the same graph agrees with the hand math to rounding.
      const H64 = await hessian(g, referenceEngine(), bindings)
      for (const i of g.inputs) for (const j of g.inputs) expect(scaledError(H64.f![i]![j]!, want[i]![j]!)).toBeLessThan(1e-12)
      let worstV = 0
      for (const method of ['forward-over-reverse', 'reverse-over-forward'] as const) {
        const r = await hvp(g, engine(), bindings, vectors, { method })
        for (const i of g.inputs) {
          const Hv = new Float64Array(B).map((_, b) => g.inputs.reduce((s, j) => s + H64.f![i]![j]![b]! * vectors[j]![b]!, 0))
          worstV = Math.max(worstV, scaledError(r.hvp.f![i]!, Hv))
        }
      }
      expect(worstV, `${src}: HVP`).toBeLessThan(5e-4)
      console.log(`[symbolic] ${tier}: ${src}: Hessian worst scaled error ${worstH.toExponential(2)}, HVP ${worstV.toExponential(2)}`)
    }
  })

  test('where(x > 0, sqrt(x), 0): the zero-adjoint mask holds in f32 (gradient, JVP, Hessian, HVP 0 at 0)', async () => {
    const g = parse('f = where(x > 0, sqrt(x), 0)')
    const x = new Float32Array([0, 0.25, 4, -1])
    const grad = await engine().evaluate(gradientGraph(g), { x })
    expect(Array.from(grad.values.d_f_x!)).toEqual([0, 1, 0.25, 0])
    expect(Array.from((await jvp(g, engine(), { x }, { x: 1 })).jvp.f!)).toEqual([0, 1, 0.25, 0])
    const H = await hessian(g, engine(), { x })
    expect(Array.from(H.f!.x!.x!)).toEqual([0, -2, -1 / 32, 0])
    for (const method of ['forward-over-reverse', 'reverse-over-forward'] as const) expect(Array.from((await hvp(g, engine(), { x }, { x: 1 }, { method })).hvp.f!.x!)).toEqual([0, -2, -1 / 32, 0])
  })
})
