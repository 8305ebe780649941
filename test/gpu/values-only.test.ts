/**
 * Values-only evaluation ({ jacobian: false }): one row per output and no reverse sweep, on every
 * engine and tier; what forward mode (jvp) and forward-over-reverse HVPs run on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { compareResults, createCpuEngine, createGpuEngine, evaluateCpu, hvp, jvp, parse, type GpuEngine } from '../../src/index.js'
import { randomArray, rng } from './setup.js'

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
    // Values-only graphs are never segmented (a forward-only kernel compiles quickly).
    const segmented = await createGpuEngine({ segmentCost: 1 })
    try {
      const k = segmented.compile(g, { jacobian: false })
      expect(k.plan.kernels).toHaveLength(1)
      expect(compareResults(await k.run(bindings), ref).maxError).toBeLessThan(2e-5)
      expect(segmented.compile(g).plan.kernels.length).toBeGreaterThan(1)
    } finally {
      segmented.destroy()
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
