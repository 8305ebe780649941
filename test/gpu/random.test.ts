import fc from 'fast-check'
import { afterAll, beforeAll, test } from 'vitest'
import { createGpuEngine, type GpuEngine } from '../../src/index.js'
import { expectMatchesReference, randomDag } from './setup.js'

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine({ tier: 'fused' })
})
afterAll(() => engine?.destroy())

test('random DAGs (fast-check): GPU values and Jacobians equal the f32-faithful reference', async () => {
  await fc.assert(
    fc.asyncProperty(randomDag, async ({ graph, bindings }) => {
      expectMatchesReference(await engine.evaluate(graph, bindings), graph, bindings, 1e-4)
    }),
    { numRuns: 40, seed: 20261126 },
  )
})
