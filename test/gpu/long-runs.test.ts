/**
 * Long runs on the real adapter and on the CPU engine: AbortSignal (before, during and while
 * queued), onProgress over tiles and blocks, compile()'s signal on a fused build, and disposal with
 * `using` / `await using`. Results of runs that were watched are checked against the reference.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createCpuEngine, createEngine, createGpuEngine, DeviceError, evaluateCpu, fn, parse, type GpuEngine, type Progress } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

const TILE = 4096
let gpu: GpuEngine
beforeAll(async () => {
  gpu = await createGpuEngine({ maxTileSize: TILE, tier: 'interpreter' })
})
afterAll(() => gpu?.destroy())

const g = parse('f = sin(x*y) + x^2; h = tanh(y - x)')
function batch(size: number, seed: number) {
  const r = rng(seed)
  return { x: randomArray(r, size, -2, 2), y: randomArray(r, size, -2, 2) }
}
const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError'

/** Progress reports are increasing, within the batch, and end at the total. */
function expectProgress(seen: Progress[], total: number, atLeast: number): void {
  expect(seen.length).toBeGreaterThanOrEqual(atLeast)
  for (const [i, p] of seen.entries()) {
    expect(p.total).toBe(total)
    expect(p.done).toBeGreaterThan(i ? seen[i - 1]!.done : 0)
    expect(p.done).toBeLessThanOrEqual(total)
  }
  expect(seen.at(-1)!.done).toBe(total)
}

describe('GPU engine', () => {
  test('onProgress is told after every tile; the results are the reference', async () => {
    const size = 10 * TILE + 123
    const b = batch(size, 1)
    const seen: Progress[] = []
    const r = await gpu.evaluate(g, b, { onProgress: (p) => seen.push(p) })
    expectProgress(seen, size, 11)
    expectMatchesReference(r, g, b, 1e-4)
  })

  test('an aborted run rejects with the signal reason, stops taking tiles, and the engine goes on', async () => {
    const size = 64 * TILE
    const b = batch(size, 2)
    const before = gpu.stats()
    const controller = new AbortController()
    const seen: Progress[] = []
    const run = gpu.evaluate(g, b, {
      signal: controller.signal,
      onProgress: (p) => {
        seen.push(p)
        if (seen.length === 2) controller.abort()
      },
    })
    const error = await run.then(() => undefined, (e: unknown) => e)
    expect(isAbort(error), String(error)).toBe(true)
    // At most the tiles in flight when it fired (three slots) finish after the abort.
    expect(seen.length).toBeLessThanOrEqual(2 + 3)
    expect(seen.at(-1)!.done).toBeLessThan(size)
    expect(gpu.stats().buffers).toBeLessThanOrEqual(before.buffers + 12)
    const again = batch(3 * TILE, 3)
    expectMatchesReference(await gpu.evaluate(g, again), g, again, 1e-4)
  })

  test('an already-aborted signal rejects at once with its own reason; so does runToBuffer', async () => {
    const reason = new Error('not wanted any more')
    const signal = AbortSignal.abort(reason)
    await expect(gpu.evaluate(g, batch(10, 4), { signal })).rejects.toBe(reason)
    await expect(gpu.compile(g).runToBuffer(batch(10, 4), { signal })).rejects.toBe(reason)
    await expect(gpu.evaluate(g, batch(10, 4), { signal: 'stop' as never })).rejects.toThrow(/signal must be an AbortSignal/)
  })

  test('a run aborted while it waits behind another rejects at once and never starts; the others complete in order', async () => {
    let firstDone = false
    const first = gpu.evaluate(g, batch(32 * TILE, 5)).then((r) => ((firstDone = true), r))
    const controller = new AbortController()
    const seen: Progress[] = []
    const second = gpu.evaluate(g, batch(8 * TILE, 6), { signal: controller.signal, onProgress: (p) => seen.push(p) })
    const b3 = batch(2 * TILE, 7)
    const third = gpu.evaluate(g, b3).then((r) => (expect(firstDone).toBe(true), r))
    controller.abort()
    await expect(second).rejects.toSatisfy(isAbort)
    // (It did not wait for the run ahead of it.)
    expect(firstDone).toBe(false)
    expect(seen).toEqual([])
    expect((await first).size).toBe(32 * TILE)
    expectMatchesReference(await third, g, b3, 1e-4)
  })

  test("compile's signal stops a fused build: ready and fused runs reject, 'auto' runs stay on the interpreter", async () => {
    const big = parse(Array.from({ length: 60 }, (_, i) => `v${i} = sin(${i === 0 ? 'x' : `v${i - 1}`} * 1.01 + y)`).join('\n'))
    const fused = await createGpuEngine({ tier: 'fused' })
    try {
      const controller = new AbortController()
      const kernel = fused.compile(big, { signal: controller.signal })
      controller.abort()
      await expect(kernel.ready).rejects.toSatisfy(isAbort)
      await expect(kernel.run(batch(100, 7))).rejects.toSatisfy(isAbort)
      expect(() => fused.compile(big, { signal: controller.signal })).toThrow(expect.objectContaining({ name: 'AbortError' }))
    } finally {
      fused.destroy()
    }
    const auto = await createGpuEngine({ tier: 'auto' })
    try {
      const controller = new AbortController()
      const kernel = auto.compile(big, { signal: controller.signal })
      controller.abort()
      const b = batch(500, 8)
      for (let i = 0; i < 3; i++) expect((await kernel.run(b)).tier).toBe('interpreter')
      expect(auto.stats().builds).toBe(0)
    } finally {
      auto.destroy()
    }
  })

  test('`await using` waits for the runs in flight, then destroys the engine', async () => {
    let kept: GpuEngine | undefined
    let pending: Promise<unknown> | undefined
    {
      await using engine = await createGpuEngine()
      kept = engine
      pending = engine.evaluate(g, batch(2000, 9))
    }
    expect((await pending as { size: number }).size).toBe(2000)
    await expect(kept.evaluate(g, batch(10, 9))).rejects.toBeInstanceOf(DeviceError)
    {
      using engine = await createGpuEngine()
      kept = engine
    }
    await expect(kept.evaluate(g, batch(10, 9))).rejects.toMatchObject({ reason: 'destroyed' })
  })
})

describe('CPU engine', () => {
  const cpu = createCpuEngine({ threads: 1, compileAfter: 0 })
  afterAll(() => cpu.destroy())

  test('onProgress over blocks; the numbers are the reference, to the last bit', async () => {
    const size = 1 << 18
    const b = batch(size, 10)
    const seen: Progress[] = []
    const r = await cpu.evaluate(g, b, { onProgress: (p) => seen.push(p) })
    expectProgress(seen, size, 1)
    const ref = evaluateCpu(g, b)
    expect(Array.from(r.values.f!)).toEqual(Array.from(ref.values.f!))
    expect(Array.from(r.jacobian.h!.y!)).toEqual(Array.from(ref.jacobian.h!.y!))
  })

  test('a timer can abort a long CPU run', async () => {
    const heavy = parse(Array.from({ length: 40 }, (_, i) => `v${i} = tanh(${i === 0 ? 'x' : `v${i - 1}`} * y + ${i})`).join('\n'))
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 5)
    // (A run that ignored the signal would return results, not reject.)
    await expect(cpu.evaluate(heavy, batch(1 << 21, 11), { signal: controller.signal })).rejects.toSatisfy(isAbort)
  })

  test('threaded: progress after each round; an abort between rounds waits for the workers and leaves the pool working', async () => {
    const threaded = createCpuEngine({ threads: 2, compileAfter: 0 })
    try {
      const size = 1 << 17
      const b = batch(size, 12)
      const seen: Progress[] = []
      const r = await threaded.evaluate(g, b, { onProgress: (p) => seen.push(p) })
      // A watched threaded run goes in rounds: progress after each.
      expectProgress(seen, size, 2)
      expect(Array.from(r.values.h!)).toEqual(Array.from(evaluateCpu(g, b).values.h!))
      const controller = new AbortController()
      const aborted = threaded.evaluate(g, batch(1 << 20, 13), { signal: controller.signal, onProgress: () => controller.abort() })
      await expect(aborted).rejects.toSatisfy(isAbort)
      const after = await threaded.evaluate(g, b)
      expect(Array.from(after.values.f!)).toEqual(Array.from(evaluateCpu(g, b).values.f!))
    } finally {
      await threaded[Symbol.asyncDispose]()
    }
  })
})

test('the auto engine and traced functions pass signal and onProgress to the backend that runs', async () => {
  await using engine = await createEngine()
  const b = batch(1 << 15, 14)
  for (const backend of ['cpu', 'gpu'] as const) {
    const seen: Progress[] = []
    const r = await engine.evaluate(g, b, { backend, onProgress: (p) => seen.push(p) })
    expect(seen.at(-1)).toEqual({ done: 1 << 15, total: 1 << 15 })
    expectMatchesReference({ ...r, tier: r.tier ?? 'fused' }, g, b, 1e-4)
    await expect(engine.evaluate(g, b, { backend, signal: AbortSignal.abort() })).rejects.toSatisfy(isAbort)
  }
  const f = fn(['x', 'y'], (x, y) => x.mul(y))
  await expect(f.valueAndJacobian(b, { engine, signal: AbortSignal.abort() })).rejects.toSatisfy(isAbort)
})
