/**
 * The auto engine (createEngine's default) on the real adapter: its calibration, explain() and the
 * runs that follow it, both backends against the float64 reference, resident inputs, the model's
 * corrections; and the transfer path under it (pipelined tiles, the profile's stages). Nothing here
 * asserts a time: the model's choices depend on the machine, so the tests check that runs go where
 * explain() says and that explain() picks the smaller of its own predictions.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { AutoEngine, createEngine, createGpuEngine, evaluateCpu, Graph, parse, SMALL_BATCH } from '../../src/index.js'
import { weightedSum } from '../../src/results.js'
import { COPY_DST, COPY_SRC, STORAGE } from '../../src/gpu/buffers.js'
import { MIN_PIPELINED_TILE, PIPELINE_TILES } from '../../src/gpu/run.js'
import { MIN_PER_THREAD } from '../../src/cpu/pool.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

let engine: AutoEngine
beforeAll(async () => {
  engine = await createEngine()
})
afterAll(() => engine?.destroy())

const seed = () => parse('e = (a*4 + 3)*(a + 2)')
const net = () => parse(['h1 = tanh(0.5*x - 0.25*y + 0.1)', 'h2 = tanh(-0.3*x + 0.8*y - 0.2)', 'h3 = sin(h1 * h2) + exp(0.1 * h1)', 'f = 0.7*h1 - 0.4*h2 + 0.9*h3'].join('\n'))

function batch(g: Graph, size: number, s: number): Record<string, Float32Array<ArrayBuffer>> {
  const r = rng(s)
  return Object.fromEntries(g.inputs.map((n) => [n, randomArray(r, size, -2, 2)]))
}

/** CPU results are the float64 reference rounded once to float32, exactly. */
function expectRoundedReference(got: { values: Record<string, Float32Array>; jacobian: Record<string, Record<string, Float32Array>> }, g: Graph, b: Record<string, Float32Array>): void {
  const want = evaluateCpu(g, b)
  for (const o of g.outputs) {
    expect(Array.from(got.values[o]!)).toEqual(Array.from(want.values[o]!, Math.fround))
    for (const i of g.inputs) expect(Array.from(got.jacobian[o]![i]!)).toEqual(Array.from(want.jacobian[o]![i]!, Math.fround))
  }
}

describe('createEngine() on the real adapter: the auto engine', () => {
  test('holds both engines and a calibration of finite, positive rates', () => {
    expect(engine.kind).toBe('auto')
    expect(engine.gpu).toBeDefined()
    expect(engine.gpuError).toBeUndefined()
    expect(engine.description).toContain(engine.gpu!.description)
    const { cpu, gpu, ms } = engine.calibration
    for (const v of [cpu.light, cpu.value, cpu.reference, gpu!.fixed, gpu!.up, gpu!.light, gpu!.heavy, gpu!.down, ms]) {
      expect(Number.isFinite(v)).toBe(true)
      expect(v).toBeGreaterThan(0)
    }
    expect(gpu!.base).toBeGreaterThanOrEqual(0)
    expect(gpu!.heavy).toBeGreaterThanOrEqual(gpu!.light)
    expect(gpu!.interpreter).toBeGreaterThanOrEqual(1)
    expect(cpu.threads).toBeGreaterThanOrEqual(1)
  })

  test('explain() picks the smaller prediction, and each run goes where it said; both backends match the reference', async () => {
    for (const g of [seed(), net()]) {
      const kernel = engine.compile(g)
      await kernel.ready
      for (const size of [SMALL_BATCH, 3 * MIN_PER_THREAD + 1, 1 << 17]) {
        const why = kernel.explain(size)
        expect(why.predicted.gpu).toBeDefined()
        expect(why.backend).toBe(why.predicted.gpu! < why.predicted.cpu ? 'gpu' : 'cpu')
        expect(why.tier).toBe('fused')
        expect(why.why).toMatch(new RegExp(`^${why.backend.toUpperCase()}: for ${size} bindings of ${why.cost.nodes} operations`))
        const b = batch(g, size, size)
        const got = await kernel.run(b)
        expect(got.backend.startsWith('cpu-js') ? 'cpu' : 'gpu').toBe(why.backend)
        const gpu = await kernel.run(b, { backend: 'gpu' })
        expect(gpu.backend).toBe(engine.gpu!.description)
        expectMatchesReference(gpu as Parameters<typeof expectMatchesReference>[0], g, b, 2e-4)
        const cpu = await kernel.run(b, { backend: 'cpu' })
        expect(cpu.backend).toMatch(/^cpu-js .*float32 results/)
        expectRoundedReference(cpu, g, b)
      }
    }
  })

  test('a new graph is predicted on the interpreter until its fused kernel is built; small batches go to the CPU unpredicted', async () => {
    const g = net()
    const kernel = engine.compile(g)
    const before = kernel.explain(1 << 16)
    expect(before.tier).toBe('interpreter')
    await kernel.ready
    const after = kernel.explain(1 << 16)
    expect(after.tier).toBe('fused')
    expect(after.predicted.gpu!).toBeLessThan(before.predicted.gpu!)
    // A new graph of generated JavaScript starts on the CPU's reference engine, and the model knows it.
    expect(kernel.explain(1 << 10).why).toMatch(/the reference engine while V8 warms up/)
    const small = kernel.explain(SMALL_BATCH - 1)
    expect(small.backend).toBe('cpu')
    expect(small.why).toMatch(/under 256/)
    expect((await kernel.run(batch(g, 10, 3))).backend).toMatch(/^cpu-js/)
  })

  test('inputs in a GPU buffer always run on the GPU; the model learns from each backend\'s runs', async () => {
    const g = seed()
    const kernel = engine.compile(g)
    await kernel.ready
    const size = 4 * MIN_PER_THREAD
    const a = randomArray(rng(4), size, -2, 2)
    const buffer = engine.gpu!.device.createBuffer({ size: size * 4, usage: STORAGE | COPY_SRC | COPY_DST })
    engine.gpu!.device.queue.writeBuffer(buffer, 0, a)
    try {
      const resident = await kernel.run({ a: { buffer, length: size } })
      expect(resident.backend).toBe(engine.gpu!.description)
      expectMatchesReference(resident as Parameters<typeof expectMatchesReference>[0], g, { a }, 2e-4)
    } finally {
      buffer.destroy()
    }
    expect(kernel.explain(size).correction).toEqual({ cpu: 1, gpu: 1 })
    for (let i = 0; i < 6; i++) await kernel.run({ a }, { backend: 'cpu' })
    const learned = kernel.explain(size).correction
    expect(learned.gpu).toBe(1)
    expect(learned.cpu).not.toBe(1)
    expect(learned.cpu).toBeGreaterThanOrEqual(0.25)
    expect(learned.cpu).toBeLessThanOrEqual(4)
    // evaluate() and explain() share one kernel per graph.
    const h = net()
    await engine.evaluate(h, batch(h, 8, 1))
    expect(engine.explain(h, 8).backend).toBe('cpu')
  })
})

describe("the auto engine's run options", () => {
  test("parameters: the CPU sums their rows in float64 (the reference's gradients exactly); the GPU engine's options (sumsOnly, into, profile, tier) send a run to the GPU; backend 'cpu' refuses them", async () => {
    const g = new Graph()
    const w = g.param('w')
    g.output('loss', w.mul(g.input('x')).sub(g.input('y')).pow(2))
    const size = 3 * MIN_PER_THREAD + 1
    const r = rng(8)
    const b = { x: randomArray(r, size, -2, 2), y: randomArray(r, size, -1, 1), w: 0.75 }
    const weights = Float64Array.from({ length: size }, (_, i) => (i % 4) / 3)
    const want = evaluateCpu(g, b, { weights })
    const cpu = await engine.evaluate(g, b, { weights, backend: 'cpu' })
    expect(cpu.backend).toMatch(/^cpu-js/)
    expect(cpu.gradients).toEqual(want.gradients)
    expect(Array.from(cpu.values.loss!)).toEqual(Array.from(want.values.loss!, Math.fround))
    const sums = await engine.evaluate(g, b, { weights, sumsOnly: true })
    expect(sums.backend).toBe(engine.gpu!.description)
    expect(sums.tier).toBeDefined()
    const close = (got: number, ref: number) => expect(Math.abs(got - ref) / Math.abs(ref)).toBeLessThan(1e-4)
    close(sums.totals!.loss!, weightedSum(want.values.loss!, weights))
    close(sums.gradients!.loss!.w!, want.gradients!.loss!.w!)
    const profiled = await engine.evaluate(g, b, { profile: true })
    expect(profiled.backend).toBe(engine.gpu!.description)
    expect(profiled.timings!.total).toBeGreaterThan(0)
    await expect(engine.evaluate(g, b, { sumsOnly: true, backend: 'cpu' })).rejects.toThrow(/backend 'cpu' cannot take the GPU engine's option sumsOnly/)
  })
})

describe('the transfer path under it: pipelined tiles and the profile', () => {
  test(`a batch of ${2 * MIN_PIPELINED_TILE}+ bindings runs in ${PIPELINE_TILES} tiles, equal bit for bit to other tilings, and the profile's stages add up`, async () => {
    const gpu = engine.gpu!
    const g = net()
    const kernel = gpu.compile(g, {})
    await kernel.ready
    const size = 4 * MIN_PIPELINED_TILE + 5
    const b = batch(g, size, 9)
    const piped = await kernel.run(b, { profile: true })
    const t = piped.timings!
    expect(t.tiles).toBe(PIPELINE_TILES)
    for (const v of [t.prepare, t.pack, t.copyIn, t.dispatch, t.copyOut, t.map, t.unpack]) expect(v).toBeGreaterThanOrEqual(0)
    expect(t.upload).toBeCloseTo(t.pack + t.copyIn, 9)
    expect(t.readback).toBeCloseTo(t.copyOut + t.map + t.unpack, 9)
    expect(t.prepare + t.upload + t.dispatch + t.readback).toBeLessThanOrEqual(t.total + 1e-9)
    const plain = await kernel.run(b)
    expect(plain.timings).toBeUndefined()
    for (const o of g.outputs) {
      expect(plain.values[o]).toEqual(piped.values[o])
      for (const i of g.inputs) expect(plain.jacobian[o]![i]).toEqual(piped.jacobian[o]![i])
    }
    expectMatchesReference(plain, g, b, 2e-4)
    // Other tilings give the same bits.
    const tiled = await createGpuEngine({ device: gpu.device, tier: 'fused', maxTileSize: 1 << 15 })
    try {
      const other = await tiled.evaluate(g, b, { profile: true })
      expect(other.timings!.tiles).toBe(Math.ceil(size / (1 << 15)))
      for (const o of g.outputs) {
        expect(other.values[o]).toEqual(plain.values[o])
        for (const i of g.inputs) expect(other.jacobian[o]![i]).toEqual(plain.jacobian[o]![i])
      }
    } finally {
      tiled.destroy()
    }
    const whole = await createGpuEngine({ device: gpu.device, tier: 'fused', pipelineTiles: 1 })
    try {
      const one = await whole.evaluate(g, b, { profile: true })
      expect(one.timings!.tiles).toBe(1)
      for (const o of g.outputs) expect(one.values[o]).toEqual(plain.values[o])
    } finally {
      whole.destroy()
    }
    await expect(createGpuEngine({ device: gpu.device, pipelineTiles: 0 })).rejects.toThrow(/pipelineTiles must be a positive integer/)
  })
})
