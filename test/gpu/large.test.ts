import { afterAll, beforeAll, expect, test } from 'vitest'
import { compareResults, createGpuEngine, evaluateCpu, parse, type GpuEngine } from '../../src/index.js'

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

test('B = 2^24 bindings (16 tiles): every binding written, a strided sample matches the reference', async () => {
  const B = 1 << 24
  const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
  const x = new Float32Array(B)
  const y = new Float32Array(B)
  for (let i = 0; i < B; i++) {
    // Distinct per binding, so a misplaced tile or row shows up as a mismatch.
    x[i] = ((i % 4093) / 4093) * 4 - 2
    y[i] = ((i % 3571) / 3571) * 4 - 1
  }
  const gpu = await engine.evaluate(g, { x, y })
  expect(gpu.values.f!.length).toBe(B)
  // Sample 1 in 331 bindings, including both ends and every tile boundary.
  const idx: number[] = []
  for (let i = 0; i < B; i += 331) idx.push(i)
  for (let t = 1; t <= 16; t++) idx.push(t * (1 << 20) - 1, Math.min(B - 1, t * (1 << 20)))
  idx.push(B - 1)
  const pick = (a: Float32Array) => Float32Array.from(idx, (i) => a[i]!)
  const sample = {
    values: { f: pick(gpu.values.f!) },
    jacobian: { f: { x: pick(gpu.jacobian.f!.x!), y: pick(gpu.jacobian.f!.y!) } },
    size: idx.length,
    backend: gpu.backend,
  }
  const ref = evaluateCpu(g, { x: pick(x), y: pick(y) }, { precision: 'f32' })
  const c = compareResults(sample, ref)
  expect(c.maxError, c.where).toBeLessThan(1e-4)
})
