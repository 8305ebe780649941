import fc from 'fast-check'
import { afterAll, beforeAll, test } from 'vitest'
import { createGpuEngine, Graph, type GpuEngine } from '../../src/index.js'
import { SMOOTH_COUNT, buildSmoothDag } from '../core/helpers.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

test('random DAGs (fast-check): GPU values and Jacobians equal the f32-faithful reference', async () => {
  const dag = fc.record({
    inputs: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 40 }),
    outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    size: fc.integer({ min: 1, max: 700 }),
    seed: fc.nat(),
  })
  await fc.assert(
    fc.asyncProperty(dag, async ({ inputs, steps, outputs, size, seed }) => {
      const g = new Graph()
      const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
      const pool = buildSmoothDag(g, names, steps)
      const used = new Set<number>()
      outputs.forEach((o, k) => {
        const e = pool[inputs + (o % (pool.length - inputs))]!.expr
        if (used.has(e.id)) return
        used.add(e.id)
        g.output(`o${k}`, e)
      })
      const r = rng(seed)
      const bindings = Object.fromEntries(names.map((n) => [n, randomArray(r, size, -2, 2)]))
      expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 1e-4)
    }),
    { numRuns: 40, seed: 20261126 },
  )
})
