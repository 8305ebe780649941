/**
 * Admission (issue 21): a run's host memory is counted before any is taken; over the engine's
 * maxHostBytes it is a BindingError naming the need, how it adds up and the limit, and nothing is
 * allocated or lost (the engine's state is unchanged and the next run is right).
 */
import { expect, test } from 'vitest'
import { BindingError, createCpuEngine, createEngine, createGpuEngine, parse } from '../../src/index.js'
import { formatBytes, hostLimit } from '../../src/admission.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

const g = parse('f = sin(x*y) + x^2')
const batch = (size: number) => ({ x: randomArray(rng(size), size, -2, 2), y: randomArray(rng(size + 1), size, -2, 2) })
const MiB = 2 ** 20

test('GPU engine: 3 rows × 4 bytes × 2^17 bindings (1.5 MiB) over a 1 MiB limit is refused, naming both; fewer rows fit', async () => {
  const engine = await createGpuEngine({ maxHostBytes: MiB, tier: 'interpreter' })
  try {
    const big = batch(1 << 17)
    const before = engine.stats()
    const error = await engine.evaluate(g, big).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(BindingError)
    expect((error as Error).message).toContain('needs 1.5 MiB of host memory (3 result rows × 4 bytes × 131072 bindings); the limit is 1 MiB')
    expect(engine.stats()).toEqual(before)
    // Values only: one row, 0.5 MiB.
    const values = await engine.evaluate(g, big, { jacobian: false })
    expect(values.values.f!.length).toBe(1 << 17)
    const small = batch(1000)
    expectMatchesReference(await engine.evaluate(g, small), g, small, 1e-4)
    // The caller's own `into` arrays take nothing new.
    const into = { values: { f: new Float32Array(1 << 17) }, jacobian: { f: { x: new Float32Array(1 << 17), y: new Float32Array(1 << 17) } } }
    expectMatchesReference(await engine.evaluate(g, big, { into }), g, big, 1e-4)
  } finally {
    engine.destroy()
  }
})

test('CPU engine (float64 rows) and the auto engine (its CPU engine too): refused over the limit, right under it', async () => {
  const cpu = createCpuEngine({ maxHostBytes: MiB, threads: 1 })
  const big = batch(1 << 16)
  await expect(cpu.evaluate(g, big)).rejects.toThrow('needs 1.5 MiB of host memory (3 result rows, 24 bytes × 65536 bindings); the limit is 1 MiB')
  expect((await cpu.evaluate(g, batch(1 << 14))).values.f!.length).toBe(1 << 14)
  cpu.destroy()
  // (The auto engine's calibration probes, up to 2 MiB of results, are not held to the limit.)
  await using auto = await createEngine({ maxHostBytes: 4 * MiB })
  expect(auto.gpu!.maxHostBytes).toBe(4 * MiB)
  await using tiny = await createEngine({ maxHostBytes: MiB })
  await expect(tiny.evaluate(g, batch(1 << 17), { backend: 'gpu' })).rejects.toThrow('the limit is 1 MiB')
  const large = batch(1 << 19)
  // float32 rows, and (with threads) float32 copies of the two inputs: 12 or 20 bytes a binding.
  await expect(auto.evaluate(g, large, { backend: 'cpu' })).rejects.toThrow(/needs (6|10) MiB of host memory/)
  await expect(auto.evaluate(g, large, { backend: 'gpu' })).rejects.toThrow('needs 6 MiB of host memory')
  await expect(createGpuEngine({ maxHostBytes: -1 })).rejects.toThrow(/maxHostBytes must be a positive number/)
})

test('the default limit is the memory Node reports available', () => {
  expect(hostLimit(undefined)).toBe(process.availableMemory())
  expect(hostLimit(123)).toBe(123)
  expect(formatBytes(96 * 2 ** 30)).toBe('96 GiB')
})
