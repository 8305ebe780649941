/**
 * Traced functions on the real adapter: the shared default engine (createEngine()) and the GPU
 * engine, against the float32-faithful reference of the same program parsed from text.
 */
import { afterAll, expect, test } from 'vitest'
import { createGpuEngine, defaultEngine, fn, parse, type GpuEngine, type GpuResults } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

let gpu: GpuEngine | undefined
afterAll(() => gpu?.destroy())

const f = fn(['x', 'y'], (x, y) => ({ f: x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)), g: x.mul(y).sin() }))
const text = parse('f = (1-x)^2 + 100*(y-x^2)^2; g = sin(x*y)')

test('the default engine: one shared createEngine(), results as the reference says', async () => {
  const engine = await defaultEngine()
  expect(await defaultEngine()).toBe(engine)
  expect(engine.kind).toBe('auto')
  const r = rng(5)
  const bindings = { x: randomArray(r, 5000, -2, 2), y: randomArray(r, 5000, -1, 3) }
  const got = await f.valueAndJacobian(bindings)
  expect(got.values.f).toBeInstanceOf(Float32Array)
  expectMatchesReference(got as GpuResults, text, bindings, 1e-5)
})

test('on the GPU engine', async () => {
  gpu = await createGpuEngine()
  const r = rng(6)
  const bindings = { x: randomArray(r, 3000, -2, 2), y: randomArray(r, 3000, -1, 3) }
  const got = await f.valueAndJacobian(bindings, { engine: gpu })
  expect(got.backend).toBe(gpu.description)
  expectMatchesReference(got as GpuResults, text, bindings, 1e-5)
  const values = await f.value(bindings, { engine: gpu })
  expect(Array.from(values.g)).toEqual(Array.from(got.values.g))
})
