/**
 * Values-only evaluation ({ jacobian: false }): one row per output and no reverse sweep, on every
 * engine and tier; what forward mode (jvp) and forward-over-reverse HVPs run on.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { compareResults, createCpuEngine, createGpuEngine, evaluateCpu, Graph, hvp, jvp, parse, type GpuEngine } from '../../src/index.js'
import { randomArray, randomDag, rng } from './setup.js'

const g = parse('a = sin(x) * y + exp(-x^2)\nf = a * tanh(y) + x / (1 + y^2)\nh = sqrt(1 + a^2)')
const r = rng(17)
const B = 3001
const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2) }

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

describe('values only', () => {
  test('the plan has one row per output; every engine and tier gives the values and no Jacobian', async () => {
    const kernel = engine.compile(g, { jacobian: false })
    expect(kernel.plan.rows.map((row) => row.kind)).toEqual(['value', 'value'])
    expect(kernel.wgsl).not.toContain('reverse sweep')
    const ref = evaluateCpu(g, bindings, { precision: 'f32', jacobian: false })
    expect(ref.jacobian).toEqual({ f: {}, h: {} })
    const ref64 = evaluateCpu(g, bindings, { jacobian: false })
    expect(Array.from(ref64.values.f!)).toEqual(Array.from(evaluateCpu(g, bindings).values.f!))
    const cpu = await createCpuEngine({ compileAfter: 0 }).evaluate(g, bindings, { jacobian: false })
    expect(compareResults(cpu, ref64).maxError).toBe(0)
    for (const tier of ['fused', 'interpreter'] as const) {
      const gpu = await engine.evaluate(g, bindings, { jacobian: false, tier })
      expect(gpu.jacobian).toEqual({ f: {}, h: {} })
      const c = compareResults(gpu, ref)
      expect(c.maxError, `${tier}: ${c.where}`).toBeLessThan(2e-5)
    }
  })

  test('segmented values-only plans: one kernel per segment, each writing its own outputs; outputs that are inputs or constants', async () => {
    // Budget 1: every op node is its own segment. Tiles of 700: a batch of 3001 takes five.
    const segmented = await createGpuEngine({ tier: 'fused', segmentCost: 1, maxTileSize: 700 })
    try {
      const k = segmented.compile(g, { jacobian: false })
      expect(k.plan.kernels.length).toBeGreaterThan(5)
      expect(k.sources).toHaveLength(k.plan.kernels.length)
      expect(k.wgsl).not.toContain('gmadd')
      const ref = evaluateCpu(g, bindings, { precision: 'f32', jacobian: false })
      const c = compareResults(await k.run(bindings), ref)
      expect(c.maxError, c.where).toBeLessThan(2e-5)
      // Outputs in the first segment (an input, a constant), in the middle and at the end.
      const h = new Graph()
      const [x, y] = [h.input('x'), h.input('y')]
      const a = x.mul(y)
      const b = a.sin().add(y)
      const m = b.mul(a)
      h.output('e', x)
      h.output('k', h.constant(2))
      h.output('a', a)
      h.output('b', b)
      h.output('m', m)
      h.output('f', m.mul(-1).exp().add(b))
      const kh = segmented.compile(h, { jacobian: false })
      expect(kh.plan.kernels.length).toBeGreaterThan(3)
      const rh = await kh.run(bindings)
      expect(rh.jacobian).toEqual({ e: {}, k: {}, a: {}, b: {}, m: {}, f: {} })
      expect(Array.from(rh.values.e!)).toEqual(Array.from(bindings.x))
      expect([...rh.values.k!].every((v) => v === 2)).toBe(true)
      const ch = compareResults(rh, evaluateCpu(h, bindings, { precision: 'f32', jacobian: false }))
      expect(ch.maxError, ch.where).toBeLessThan(2e-5)
      // Segments that share nothing: no scratch rows, but the kernels still bind a scratch.
      const apart = parse('f = x * y\ng = sin(x)')
      const ka = segmented.compile(apart, { jacobian: false })
      expect(ka.plan.kernels).toHaveLength(2)
      expect(ka.plan.scratch!.rows).toBe(0)
      const ca = compareResults(await ka.run(bindings), evaluateCpu(apart, bindings, { precision: 'f32', jacobian: false }))
      expect(ca.maxError, ca.where).toBeLessThan(2e-5)
    } finally {
      segmented.destroy()
    }
  })

  test('random DAGs (fast-check), values only, at several budgets: the same values as the one-kernel plan', async () => {
    const engines = await Promise.all([1, 8, Infinity].map((segmentCost) => createGpuEngine({ tier: 'fused', segmentCost, maxTileSize: 300 })))
    let cut = 0
    try {
      await fc.assert(
        fc.asyncProperty(randomDag, async ({ graph, bindings: b }) => {
          if (engines[0]!.compile(graph, { jacobian: false }).plan.kernels.length > 1) cut++
          const [one, eight, whole] = await Promise.all(engines.map((e) => e.evaluate(graph, b, { jacobian: false })))
          const ref = evaluateCpu(graph, b, { precision: 'f32', jacobian: false })
          for (const r of [one!, eight!, whole!]) {
            const c = compareResults(r, ref)
            expect(c.maxError, c.where).toBeLessThan(1e-4)
          }
          // A forward pass sums nothing across a cut: the cuts change the values by at most a
          // rounding (a driver may fuse a*b + c into one fma inside a kernel, not across a cut).
          for (const r of [one!, eight!]) expect(compareResults(r, whole!).maxError).toBeLessThan(1e-5)
        }),
        { numRuns: 10, seed: 5 },
      )
      expect(cut).toBeGreaterThan(5)
    } finally {
      for (const e of engines) e.destroy()
    }
  })

  test('jvp and forward-over-reverse hvp run values-only and equal J·t and the default hvp', async () => {
    const t = { x: randomArray(r, B, -1, 1), y: randomArray(r, B, -1, 1) }
    const J = await jvp(g, engine, bindings, t)
    const full = evaluateCpu(g, bindings)
    for (const o of ['f', 'h']) {
      const want = Float64Array.from({ length: B }, (_, i) => full.jacobian[o]!.x![i]! * t.x[i]! + full.jacobian[o]!.y![i]! * t.y[i]!)
      const c = compareResults({ values: { jvp: J.jvp[o]! }, jacobian: { jvp: {} }, size: B, backend: '' }, { values: { jvp: want }, jacobian: { jvp: {} }, size: B, backend: '' })
      expect(c.maxError, c.where).toBeLessThan(1e-4)
    }
    const v = { x: randomArray(r, B, -1, 1), y: randomArray(r, B, -1, 1) }
    const a = await hvp(g, engine, bindings, v)
    const b = await hvp(g, engine, bindings, v, { method: 'forward-over-reverse' })
    for (const o of ['f', 'h']) {
      for (const i of ['x', 'y']) {
        const c = compareResults({ values: { v: b.hvp[o]![i]! }, jacobian: { v: {} }, size: B, backend: '' }, { values: { v: a.hvp[o]![i]! }, jacobian: { v: {} }, size: B, backend: '' })
        expect(c.maxError, `${o}/${i}: ${c.where}`).toBeLessThan(5e-4)
      }
    }
  })
})
