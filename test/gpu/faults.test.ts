/**
 * GPU faults, concurrency and resource bounds (issue 8): device loss and engine destruction with work
 * in flight reject that work with DeviceError and leave a new engine working; an allocation that
 * fails is retried with smaller tiles (or reported); 100 concurrent calls of mixed graphs, sizes and
 * tiers are all right; 10^4 evaluations of ever-new graphs keep the engine's buffers, pipelines,
 * tapes and the JS heap bounded.
 */
import { describe, expect, test } from 'vitest'
import { BUFFER_USAGE, createGpuEngine, DeviceError, evaluateCpu, compareResults, parse, type Graph, type GpuEngine } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

/** A settled call: its value or its error. */
async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p }
  } catch (error) {
    return { ok: false, error }
  }
}

/** A good graph still evaluates right on a (new) engine. */
async function stillWorks(engine: GpuEngine): Promise<void> {
  const g = parse('f = sin(x) * y')
  const bindings = { x: randomArray(rng(1), 500, -2, 2), y: randomArray(rng(2), 500, -2, 2) }
  expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 1e-5)
}

// Both upload modes: 'staging' keeps a mapped buffer per slot, which a destroyed device unmaps under it.
describe.each(['writeBuffer', 'staging'] as const)('device loss and destruction with work in flight (upload: %s)', (upload) => {
  test('device.destroy() with recovery on (the default): every pending call completes on a new device, right; later calls too', async () => {
    const engine = await createGpuEngine({ upload })
    const g = parse('f = sin(x) * exp(-y^2) + x*y')
    const big = { x: randomArray(rng(3), 1 << 20, -2, 2), y: randomArray(rng(4), 1 << 20, -2, 2) }
    await engine.compile(g).ready
    const lost = engine.device
    const inFlight = Array.from({ length: 12 }, () => settle(engine.evaluate(g, big)))
    await new Promise((r) => setTimeout(r, 30))
    lost.destroy()
    const outcomes = await Promise.all(inFlight)
    for (const o of outcomes) {
      expect(o.ok, String((o as { error?: unknown }).error)).toBe(true)
      if (o.ok) expectMatchesReference(o.value, g, big, 1e-4)
    }
    expect(engine.device).not.toBe(lost)
    expect(engine.stats().recoveries).toBe(1)
    await stillWorks(engine)
    engine.destroy()
  })

  test('device.destroy() with recover: false rejects pending and later calls with DeviceError; a new engine works', async () => {
    const engine = await createGpuEngine({ upload, recover: false })
    const g = parse('f = sin(x) * exp(-y^2) + x*y')
    const big = { x: randomArray(rng(3), 1 << 20, -2, 2), y: randomArray(rng(4), 1 << 20, -2, 2) }
    await engine.compile(g).ready
    // Enough work that some is still pending when the device goes, even on a fast GPU.
    const inFlight = Array.from({ length: 12 }, () => settle(engine.evaluate(g, big)))
    await new Promise((r) => setTimeout(r, 30))
    engine.device.destroy()
    const outcomes = await Promise.all(inFlight)
    const failed = outcomes.filter((o) => !o.ok)
    // Whatever had not finished when the device went fails with DeviceError, nothing else.
    expect(failed.length).toBeGreaterThan(0)
    for (const o of failed) expect((o as { error: unknown }).error).toBeInstanceOf(DeviceError)
    for (const o of outcomes) if (o.ok) expectMatchesReference(o.value, g, big, 1e-4)
    const later = await settle(engine.evaluate(g, { x: [1], y: [2] }))
    expect(later.ok).toBe(false)
    expect((later as { error: DeviceError }).error).toBeInstanceOf(DeviceError)
    expect((later as { error: DeviceError }).error.message).toMatch(/lost|destroyed/)
    engine.destroy()
    const fresh = await createGpuEngine()
    await stillWorks(fresh)
    fresh.destroy()
  })

  test('engine.destroy() while runs are in flight or queued rejects them cleanly and frees every buffer', async () => {
    const engine = await createGpuEngine({ tier: 'interpreter', upload })
    const g = parse('f = tanh(x) * y + y^3')
    const big = { x: randomArray(rng(5), 1 << 19, -2, 2), y: randomArray(rng(6), 1 << 19, -2, 2) }
    await engine.interpreter()
    const calls = Array.from({ length: 20 }, () => settle(engine.evaluate(g, big)))
    await new Promise((r) => setTimeout(r, 5))
    engine.destroy()
    const outcomes = await Promise.all(calls)
    const failed = outcomes.filter((o) => !o.ok)
    expect(failed.length).toBeGreaterThan(0)
    for (const o of failed) {
      const e = (o as { error: DeviceError }).error
      expect(e).toBeInstanceOf(DeviceError)
      expect(e.reason).toBe('destroyed')
    }
    expect(engine.stats()).toMatchObject({ buffers: 0, bufferBytes: 0, pipelines: 0, tapes: 0 })
    await expect(engine.evaluate(g, { x: [1], y: [1] })).rejects.toThrow(/destroyed/)
    const fresh = await createGpuEngine()
    await stillWorks(fresh)
    fresh.destroy()
  })
})

describe("a caller's device", () => {
  test("the caller's own uncaptured errors do not fail wavegrad's runs on it", async () => {
    const owner = await createGpuEngine()
    const shared = await createGpuEngine({ device: owner.device })
    try {
      const seen: string[] = []
      const listen = (e: Event) => seen.push((e as GPUUncapturedErrorEvent).error.message)
      owner.device.addEventListener('uncapturederror', listen)
      // The caller's mistake, outside any error scope: MAP_READ may only go with COPY_DST.
      owner.device.createBuffer({ size: 16, usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.STORAGE })
      await owner.device.queue.onSubmittedWorkDone()
      await new Promise((r) => setTimeout(r, 50))
      await stillWorks(shared)
      expect(seen.length).toBe(1)
      owner.device.removeEventListener('uncapturederror', listen)
    } finally {
      shared.destroy()
      owner.destroy()
    }
  })
})

describe('out of memory', () => {
  /** The engine's own device behind a proxy whose createBuffer fails above `limit` bytes, as a full GPU does. */
  async function tightDevice(limit: number): Promise<{ device: GPUDevice; owner: GpuEngine; refused: number[] }> {
    const owner = await createGpuEngine()
    const real = owner.device
    const refused: number[] = []
    const device = new Proxy(real, {
      get(target, prop) {
        if (prop === 'createBuffer') {
          return (d: GPUBufferDescriptor) => {
            if (d.size > limit) {
              refused.push(d.size)
              throw new RangeError(`cannot allocate ${d.size} bytes`)
            }
            return target.createBuffer(d)
          }
        }
        const v = Reflect.get(target, prop) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    return { device, owner, refused }
  }

  test('a failed allocation is retried with smaller tiles: the results are complete and right', async () => {
    const { device, owner, refused } = await tightDevice(1 << 20)
    const engine = await createGpuEngine({ device, tier: 'fused' })
    try {
      const g = parse('f = x*y + sin(x); h = exp(-x^2) * y')
      const B = 100_000
      const bindings = { x: randomArray(rng(7), B, -2, 2), y: randomArray(rng(8), B, -2, 2) }
      const gpu = await engine.evaluate(g, bindings, { profile: true })
      expect(refused.length).toBeGreaterThan(0)
      // 6 rows × 4 bytes per binding within 1 MiB: at most 43,690 bindings per tile.
      expect(gpu.timings!.tiles).toBeGreaterThanOrEqual(3)
      expectMatchesReference(gpu, g, bindings, 1e-5)
      // Later runs start at the smaller tile: no new refusals.
      const seen = refused.length
      expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 1e-5)
      expect(refused.length).toBe(seen)
    } finally {
      engine.destroy()
      owner.destroy()
    }
  })

  test('below the smallest tile it is reported as DeviceError (out-of-memory), and small runs still work', async () => {
    const { device, owner } = await tightDevice(2048)
    const engine = await createGpuEngine({ device, tier: 'fused' })
    try {
      const g = parse('f = x*y')
      const err = await engine.evaluate(g, { x: new Float32Array(5000), y: new Float32Array(5000) }).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(DeviceError)
      expect((err as DeviceError).reason).toBe('out-of-memory')
      expect((err as DeviceError).message).toMatch(/allocation failed/)
      const small = { x: [1, 2, 3], y: [4, 5, 6] }
      const r = await engine.evaluate(g, small)
      expect(Array.from(r.values.f!)).toEqual([4, 10, 18])
    } finally {
      engine.destroy()
      owner.destroy()
    }
  })
})

describe('concurrency', () => {
  test('100 concurrent calls on one engine: mixed graphs, sizes, tiers, segmented plans and GPU-resident results', async () => {
    const engine = await createGpuEngine({ tier: 'fused', segmentCost: 24, maxTileSize: 4096 })
    try {
      const graphs: Graph[] = [
        parse('f = x*y'),
        parse('f = sin(x) + y^2; h = x / (1 + y^2)'),
        parse('f = max(x, y) * 3 - min(x, 0)'),
        // Segmented under a budget of 24.
        parse('a = sin(x) * cos(y); b = tanh(a + x); c = sigmoid(b * y) + exp(-a^2); f = c * b + log1p(x^2)'),
      ]
      const sizes = [1, 7, 129, 1000, 4097, 20000]
      const jobs = Array.from({ length: 100 }, async (_, i) => {
        const g = graphs[i % graphs.length]!
        const r = rng(100 + i)
        const B = sizes[i % sizes.length]!
        const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2) }
        if (i % 10 === 9) {
          const res = await engine.evaluateToBuffer(g, bindings)
          expect(res.size).toBe(B)
          res.buffer.destroy()
          return
        }
        const gpu = await engine.evaluate(g, bindings, { tier: i % 3 === 0 ? 'interpreter' : 'fused' })
        expectMatchesReference(gpu, g, bindings, 1e-4)
      })
      await Promise.all(jobs)
    } finally {
      engine.destroy()
    }
  })
})

describe('resources stay bounded', () => {
  test('10^4 evaluations of new graphs (interpreter): tapes, buffers and heap bounded; sampled results right', async () => {
    const engine = await createGpuEngine({ tier: 'interpreter', tapeCacheSize: 16 })
    try {
      await engine.interpreter()
      const x = randomArray(rng(9), 16, -2, 2)
      const y = randomArray(rng(10), 16, -2, 2)
      expect(globalThis.gc, 'the gpu project runs with --expose-gc').toBeTypeOf('function')
      let heapAt1000 = 0
      let most = { buffers: 0, bufferBytes: 0, tapes: 0 }
      for (let i = 0; i < 10_000; i++) {
        const g = parse(`f = x * ${1 + i / 1000} + sin(y * ${i % 97})`)
        const gpu = await engine.evaluate(g, { x, y })
        if (i % 1000 === 0) expectMatchesReference(gpu, g, { x, y }, 1e-5)
        const s = engine.stats()
        most = { buffers: Math.max(most.buffers, s.buffers), bufferBytes: Math.max(most.bufferBytes, s.bufferBytes), tapes: Math.max(most.tapes, s.tapes) }
        if (i === 1000) {
          globalThis.gc!()
          heapAt1000 = process.memoryUsage().heapUsed
        }
      }
      globalThis.gc!()
      const growth = process.memoryUsage().heapUsed - heapAt1000
      console.log(`[gpu] 10^4 new graphs: at most ${most.buffers} buffers, ${most.bufferBytes} bytes, ${most.tapes} tapes; heap grew ${(growth / 2 ** 20).toFixed(1)} MiB after the first 1000`)
      expect(most.tapes).toBeLessThanOrEqual(16)
      // Two slots of 6 buffers each (5 without an upload buffer) and the register file, plus 2
      // buffers per held tape; a software adapter's register file is made once, 128 MiB, with the
      // interpreter.
      expect(most.buffers).toBeLessThanOrEqual(2 * (engine.software ? 5 : 6) + 1 + 2 * 16)
      expect(most.bufferBytes).toBeLessThan(8 * 2 ** 20 + (engine.software ? 128 * 2 ** 20 : 0))
      // 9000 more runs: a leak of even 300 bytes per run (one promise reaction) would exceed this.
      expect(growth).toBeLessThan(1.5 * 2 ** 20)
    } finally {
      engine.destroy()
    }
  })

  test('the pipeline cache is an LRU of the size asked for; evicted kernels still run', async () => {
    const engine = await createGpuEngine({ tier: 'fused', pipelineCacheSize: 3 })
    try {
      const graphs = Array.from({ length: 6 }, (_, i) => parse(`f = x * ${i + 2} + y^2`))
      const bindings = { x: randomArray(rng(11), 300, -2, 2), y: randomArray(rng(12), 300, -2, 2) }
      const kernels = graphs.map((g) => engine.compile(g))
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < graphs.length; i++) {
          const gpu = await kernels[i]!.run(bindings)
          expectMatchesReference(gpu, graphs[i]!, bindings, 1e-5)
          expect(engine.stats().pipelines).toBeLessThanOrEqual(3)
        }
      }
      // The most recently compiled three are the ones kept: compiling one of them again is a hit.
      const before = engine.stats().pipelines
      engine.compile(graphs[5]!)
      expect(engine.stats().pipelines).toBe(before)
      const ref = evaluateCpu(graphs[0]!, bindings, { precision: 'f32' })
      expect(compareResults(await engine.evaluate(graphs[0]!, bindings), ref).maxError).toBeLessThan(1e-5)
    } finally {
      engine.destroy()
    }
  })
})
