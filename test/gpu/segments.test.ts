/**
 * Segmented fused kernels on the real adapter: the same numbers as the f32-faithful reference (and
 * as the one-kernel plan) whatever the cuts, including rows in early segments, outputs that are
 * inputs or constants, nodes read by several later segments, and zero partials (comparisons)
 * across a cut.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { compareResults, COST_BUDGET, createGpuEngine, evaluateCpu, Graph, HARDWARE_COST_BUDGET, parse, planKernels, programOf, type GpuEngine } from '../../src/index.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { isSoftwareAdapter } from '../../src/gpu/device.js'
import { expectMatchesReference, randomArray, randomDag, rng } from './setup.js'

let tiny: GpuEngine
beforeAll(async () => {
  // Budget 1: every op node is its own segment, the most cuts a graph can have.
  tiny = await createGpuEngine({ tier: 'fused', segmentCost: 1 })
})
afterAll(() => tiny?.destroy())

describe('segmented fused kernels', () => {
  test('cuts everywhere: outputs at every level, an input and a constant as outputs, where/comparisons across cuts', async () => {
    const g = parse(`
      a = x * y
      b = sin(a) + x
      c = where(b > 0, b * b, y)
      d = c * a + exp(-b)
      e = x
      k = 2
      m = min(a, d) + max(b, c)
    `)
    const kernel = tiny.compile(g)
    expect(kernel.plan.kernels.length).toBeGreaterThan(5)
    expect(kernel.sources).toHaveLength(kernel.plan.kernels.length)
    const r = rng(3)
    const bindings = { x: randomArray(r, 1000, -2, 2), y: randomArray(r, 1000, -2, 2) }
    const gpu = await kernel.run(bindings)
    expect(gpu.tier).toBe('fused')
    expectMatchesReference(gpu, g, bindings, 2e-5)
    // ∂e/∂x = 1 and the constant's row is 0, written by the first segment.
    expect([...gpu.jacobian.e!.x!].every((v) => v === 1)).toBe(true)
    expect([...gpu.values.k!].every((v) => v === 2)).toBe(true)
  })

  test('a node only compared (no adjoint of its own) and a node read by many later segments', async () => {
    const g = new Graph()
    const x = g.input('x')
    const t = x.mul(3).sin()
    let acc = t
    for (let i = 0; i < 12; i++) acc = acc.add(t.mul(i + 1).cos().mul(0.1))
    const flag = acc.gt(0.5)
    g.output('f', g.apply('where', [flag, acc.mul(2), t]))
    g.output('t', t)
    const bindings = { x: randomArray(rng(4), 777, -3, 3) }
    const gpu = await tiny.evaluate(g, bindings)
    expectMatchesReference(gpu, g, bindings, 2e-5)
  })

  test('random DAGs (fast-check) at several budgets, odd batch sizes, tiles smaller than the batch', async () => {
    const engines = await Promise.all([8, 40].map((segmentCost) => createGpuEngine({ tier: 'fused', segmentCost, maxTileSize: 300 })))
    try {
      await fc.assert(
        fc.asyncProperty(randomDag, fc.nat(1), async ({ graph, bindings }, which) => {
          const gpu = await engines[which]!.evaluate(graph, bindings)
          // Cuts change the order adjoint terms are summed in: an ill-conditioned graph (its f32
          // reference already far from f64) gets a tolerance in proportion.
          const conditioning = compareResults(evaluateCpu(graph, bindings, { precision: 'f32' }), evaluateCpu(graph, bindings)).maxError
          expectMatchesReference(gpu, graph, bindings, Math.max(1e-4, 4 * conditioning))
        }),
        { numRuns: 10, seed: 21 },
      )
    } finally {
      for (const e of engines) e.destroy()
    }
  })

  test('many inputs, rows and crossing values: looped accesses (a software adapter\'s default) and direct ones (a GPU\'s) give the reference\'s numbers', async () => {
    const g = new Graph()
    const xs = Array.from({ length: 24 }, (_, i) => g.input(`x${i}`))
    let e = xs[0]!
    xs.forEach((x, i) => (e = e.mul(x.mul(0.1).add(1)).add(x.sin().mul(0.01 * i))))
    g.output('f', e)
    g.output('h', e.tanh())
    const r = rng(24)
    const bindings = Object.fromEntries(g.inputs.map((n) => [n, randomArray(r, 333, -1, 1)]))
    for (const loopAccesses of [16, Infinity]) {
      const engine = await createGpuEngine({ device: tiny.device, tier: 'fused', segmentCost: 40, loopAccesses })
      try {
        const kernel = engine.compile(g)
        expect(kernel.plan.kernels.length).toBeGreaterThan(3)
        expect(kernel.wgsl.includes('for (var j = 0u;')).toBe(loopAccesses === 16)
        expectMatchesReference(await kernel.run(bindings), g, bindings, 5e-5)
      } finally {
        engine.destroy()
      }
    }
  })

  test('GPU-resident results and broadcast numbers through a segmented plan', async () => {
    const g = parse('u = a * sin(x) + x^2; f = u * exp(-u) + a')
    const x = randomArray(rng(8), 999, -2, 2)
    const kernel = tiny.compile(g)
    expect(kernel.plan.kernels.length).toBeGreaterThan(2)
    expectMatchesReference(await kernel.run({ x, a: 0.5 }), g, { x, a: 0.5 }, 5e-5)
    const res = await kernel.runToBuffer({ x, a: 0.5 })
    expect(res.tier).toBe('fused')
    res.buffer.destroy()
  })
  test('a driver that cannot build a kernel this big gets the graph cut finer, with the same numbers', async () => {
    // The real device, except that pipeline creation fails for long shaders, as NVIDIA's driver does
    // for kernels of a few thousand nodes (VK_ERROR_UNKNOWN: "failed to validate local memory").
    const own = await createGpuEngine()
    const g = chain()
    // The default budget follows the adapter: bigger kernels on a software one.
    expect(own.segmentCost).toBe(isSoftwareAdapter(own.device.adapterInfo) ? COST_BUDGET : HARDWARE_COST_BUDGET)
    const whole = planKernels(programOf(g), { segmentCost: COST_BUDGET })
    expect(whole.kernels).toHaveLength(1)
    const limit = kernelSources(whole)[0]!.wgsl.length / 2
    const { device, refused } = refusingDevice(own.device, limit)
    const engine = await createGpuEngine({ device, tier: 'fused', segmentCost: COST_BUDGET })
    const kernel = engine.compile(g)
    await kernel.ready
    expect(refused.length).toBeGreaterThan(0)
    expect(kernel.plan.kernels.length).toBeGreaterThan(1)
    for (const k of kernel.sources) expect(k.wgsl.length).toBeLessThanOrEqual(limit)
    const r = rng(9)
    const bindings = { x: randomArray(r, 777, -1, 1), y: randomArray(r, 777, -1, 1) }
    const gpu = await kernel.run(bindings)
    expect(gpu.tier).toBe('fused')
    expectMatchesReference(gpu, g, bindings, 2e-5)
    // The engine stays usable.
    await expect(engine.evaluate(parse('f = x * 2'), { x: [1] })).resolves.toBeDefined()
    engine.destroy()
    own.destroy()
  })

  test('a values-only kernel the driver refuses is cut finer too', async () => {
    const own = await createGpuEngine()
    const g = chain()
    const whole = planKernels(programOf(g, { jacobian: false }), { segmentCost: COST_BUDGET })
    const limit = kernelSources(whole)[0]!.wgsl.length / 2
    const { device, refused } = refusingDevice(own.device, limit)
    const engine = await createGpuEngine({ device, tier: 'fused', segmentCost: COST_BUDGET })
    try {
      const kernel = engine.compile(g, { jacobian: false })
      await kernel.ready
      expect(refused.length).toBeGreaterThan(0)
      expect(kernel.plan.kernels.length).toBeGreaterThan(1)
      expect(kernel.sources.every((k) => k.wgsl.length <= limit)).toBe(true)
      const r = rng(10)
      const bindings = { x: randomArray(r, 777, -1, 1), y: randomArray(r, 777, -1, 1) }
      const c = compareResults(await kernel.run(bindings), evaluateCpu(g, bindings, { precision: 'f32', jacobian: false }))
      expect(c.maxError, c.where).toBeLessThan(2e-5)
    } finally {
      engine.destroy()
      own.destroy()
    }
  })
})

/** A chain of 120 sin nodes, each also reading one halfway back. */
function chain(): Graph {
  const lines = ['a0 = x * y']
  for (let i = 1; i <= 120; i++) lines.push(`a${i} = sin(a${i - 1}) * x + a${i >> 1} * 0.5`)
  lines.push('f = a120 + a60 * y')
  return parse(lines.join('\n'))
}

/** `real`, except that building a pipeline from a shader longer than `limit` fails (VK_ERROR_UNKNOWN), as NVIDIA's driver does for big kernels. */
function refusingDevice(real: GPUDevice, limit: number): { device: GPUDevice; refused: number[] } {
  const codes = new WeakMap<object, string>()
  const refused: number[] = []
  const device = new Proxy(real, {
    get(target, key) {
      if (key === 'createShaderModule') {
        return (d: GPUShaderModuleDescriptor) => {
          const m = target.createShaderModule(d)
          codes.set(m, d.code)
          return m
        }
      }
      if (key === 'createComputePipelineAsync') {
        return async (d: GPUComputePipelineDescriptor) => {
          const code = codes.get(d.compute.module) ?? ''
          if (code.length > limit) {
            refused.push(code.length)
            throw new Error('CreateComputePipelines failed with VK_ERROR_UNKNOWN (kernel too big for this test driver)')
          }
          return target.createComputePipelineAsync(d)
        }
      }
      const v = Reflect.get(target, key, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  return { device, refused }
}
