/**
 * checkGradients on the real adapter: correct graphs pass on the fused and the interpreter tier
 * (GPU f32 vs the f64 reference vs finite differences), and non-finite numbers from log across 0
 * are counted alike for the GPU and the reference.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createGpuEngine, parse, type GpuEngine } from '../../src/index.js'
import { checkGradients, formatGradientReport } from '../../src/check.js'

let fused: GpuEngine
let interpreter: GpuEngine

beforeAll(async () => {
  fused = await createGpuEngine({ tier: 'fused' })
  interpreter = await createGpuEngine({ device: fused.device, tier: 'interpreter' })
})
afterAll(() => {
  interpreter?.destroy()
  fused?.destroy()
})

const graphs = {
  rosenbrock: { graph: parse('f = (1-x)^2 + 100*(y-x^2)^2'), domain: { x: [-2, 2], y: [-1, 3] } as const },
  network: {
    graph: parse('h1 = tanh(0.5*x - 0.3*y + 0.1)\nh2 = sigmoid(x*y - 0.2)\nu = h1 * h2 + atan2(y, x + 3)\nv = exp(-x^2) * sin(2*y) + log1p(x^2)'),
    domain: { x: [-2, 2], y: [-2, 2] } as const,
  },
}

describe.each(['fused', 'interpreter'] as const)('tier %s', (tier) => {
  test.each(Object.keys(graphs) as (keyof typeof graphs)[])('%s passes', async (name) => {
    const { graph, domain } = graphs[name]
    const engine = tier === 'fused' ? fused : interpreter
    const report = await checkGradients(graph, engine, { domain, count: 2048, seed: 42 })
    console.log(`[${tier}] ${formatGradientReport(report)}`)
    expect(report.backend).toMatch(/^webgpu: /)
    expect(report.tol.engine).toBe(1e-3)
    expect(report.ok, formatGradientReport(report)).toBe(true)
    expect(report.nonFinite).toEqual({ engine: 0, reference: 0, finiteDifference: 0 })
    for (const e of report.entries) {
      // f32 on the GPU vs f64: a few ulps, scaled (u's value nears 0 where its terms cancel: ~1e-4).
      expect(e.engineError).toBeLessThan(3e-4)
      expect(e.engineError).toBeGreaterThan(0)
      if (e.input !== undefined) expect(e.fdError!).toBeLessThan(1e-8)
    }
  })
})

test('log(x) across 0 on the GPU: the same non-finite numbers as the reference', async () => {
  const g = parse('f = log(x) * y')
  const report = await checkGradients(g, fused, { domain: { x: [-1, 1], y: [0.5, 2] }, count: 1000 })
  const nonPositive = report.bindings.x!.filter((v) => v <= 0).length
  expect(nonPositive).toBeGreaterThan(400)
  expect(report.nonFinite.reference).toBeGreaterThanOrEqual(2 * nonPositive)
  expect(report.nonFinite.engine).toBe(report.nonFinite.reference)
  expect(report.nonFinite.finiteDifference).toBeGreaterThanOrEqual(2 * nonPositive)
  expect(report.ok, formatGradientReport(report)).toBe(true)
})
