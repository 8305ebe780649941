import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BindingError, BUFFER_USAGE, compareResults, createGpuEngine, DeviceError, evaluateCpu, parse, type GpuEngine, type GpuResidentResults } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

const { MAP_READ, COPY_SRC, COPY_DST, STORAGE } = BUFFER_USAGE

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

function gpuArray(values: Float32Array<ArrayBuffer>, usage = STORAGE | COPY_SRC | COPY_DST, padFloats = 0): GPUBuffer {
  const buffer = engine.device.createBuffer({ size: (values.length + padFloats) * 4 || 4, usage })
  engine.device.queue.writeBuffer(buffer, padFloats * 4, values)
  return buffer
}

/** Reads a resident result back by hand (a plain copy + map), into the shape of run()'s results. */
async function readResident(res: GpuResidentResults, device = engine.device) {
  const bytes = res.rows.length * res.size * 4
  const staging = device.createBuffer({ size: bytes, usage: MAP_READ | COPY_DST })
  const enc = device.createCommandEncoder()
  enc.copyBufferToBuffer(res.buffer, 0, staging, 0, bytes)
  device.queue.submit([enc.finish()])
  await staging.mapAsync(1)
  const all = new Float32Array(staging.getMappedRange().slice(0))
  staging.unmap()
  staging.destroy()
  const values: Record<string, Float32Array> = {}
  const jacobian: Record<string, Record<string, Float32Array>> = {}
  for (const row of res.rows) {
    const at = res.offset(row.output, row.input) / 4
    const data = all.subarray(at, at + res.size)
    if (row.kind === 'value') {
      values[row.output] = data
      jacobian[row.output] ??= {}
    } else {
      ;(jacobian[row.output] ??= {})[row.input!] = data
    }
  }
  return { values, jacobian, size: res.size, backend: res.backend }
}

describe('broadcast numbers', () => {
  test('a number is the same value for every binding, on the GPU as in the reference', async () => {
    const g = parse('f = a * sin(x) + b * x^2; g = a*b')
    const x = randomArray(rng(1), 3000, -2, 2)
    const bindings = { x, a: 1.5, b: -0.25 }
    const gpu = await engine.evaluate(g, bindings)
    expect(gpu.size).toBe(3000)
    expectMatchesReference(gpu, g, bindings, 1e-5)
  })

  test('only numbers: one binding', async () => {
    const gpu = await engine.evaluate(parse('f = a * b'), { a: 3, b: 4 })
    expect(gpu.size).toBe(1)
    expect(Array.from(gpu.values.f!)).toEqual([12])
    expect(Array.from(gpu.jacobian.f!.a!)).toEqual([4])
  })
})

describe('GPU-resident inputs and outputs', () => {
  const g = parse('f = (1-x)^2 + a*(y-x^2)^2')

  test('inputs from GPUBuffers (with an offset) equal the same inputs from arrays', async () => {
    const B = 4099
    const r = rng(2)
    const x = randomArray(r, B, -2, 2)
    const y = randomArray(r, B, -1, 3)
    const xb = gpuArray(x)
    const yb = gpuArray(y, STORAGE | COPY_SRC | COPY_DST, 3)
    const gpu = await engine.evaluate(g, { x: { buffer: xb, length: B }, y: { buffer: yb, offset: 12, length: B }, a: 100 })
    expectMatchesReference(gpu, g, { x, y, a: 100 }, 1e-4)
    xb.destroy()
    yb.destroy()
  })

  test('runToBuffer leaves the rows on the GPU; read back by hand they match the reference', async () => {
    const B = 2051
    const r = rng(3)
    const x = randomArray(r, B, -2, 2)
    const y = randomArray(r, B, -1, 3)
    const kernel = engine.compile(g)
    const res = await kernel.runToBuffer({ x, y, a: 100 })
    expect(res.size).toBe(B)
    expect(g.inputs).toEqual(['x', 'a', 'y'])
    expect(res.rows.map((row) => `${row.kind}:${row.input ?? ''}`)).toEqual(['value:', 'jacobian:x', 'jacobian:a', 'jacobian:y'])
    expect(res.offset('f')).toBe(0)
    expect(res.offset('f', 'y')).toBe(3 * B * 4)
    expect(res.buffer.size).toBeGreaterThanOrEqual(4 * B * 4)
    const back = await readResident(res)
    const ref = evaluateCpu(g, { x, y, a: 100 }, { precision: 'f32' })
    const c = compareResults(back, ref)
    expect(c.maxError, c.where).toBeLessThan(1e-4)
    res.buffer.destroy()
  })

  test("'into' reuses the caller's buffer across runs (no readback, no new wavegrad buffers)", async () => {
    const B = 1 << 16
    const r = rng(4)
    const xb = gpuArray(randomArray(r, B, -2, 2))
    const yb = gpuArray(randomArray(r, B, -1, 3))
    const into = engine.device.createBuffer({ size: 4 * B * 4, usage: STORAGE | COPY_SRC | COPY_DST })
    const kernel = engine.compile(g)
    const inputs = { x: { buffer: xb, length: B }, y: { buffer: yb, length: B } }
    await kernel.runToBuffer({ ...inputs, a: 1 }, { into })
    const { buffers, bufferBytes } = engine.stats()
    for (const a of [2, 3, 50]) {
      const res = await kernel.runToBuffer({ ...inputs, a }, { into })
      expect(res.buffer).toBe(into)
    }
    expect(engine.stats()).toMatchObject({ buffers, bufferBytes })
    const back = await readResident(await kernel.runToBuffer({ ...inputs, a: 7 }, { into }))
    // Check the last parameter value really took: ∂f/∂a = (y - x²)².
    const x = await kernel.run({ ...inputs, a: 7 })
    expect(Array.from(back.jacobian.f!.a!.subarray(0, 64))).toEqual(Array.from(x.jacobian.f!.a!.subarray(0, 64)))
    expect(Array.from(back.values.f!.subarray(B - 64))).toEqual(Array.from(x.values.f!.subarray(B - 64)))
    for (const b of [xb, yb, into]) b.destroy()
  })

  test('several tiles: GPU inputs and resident outputs line up across tile boundaries', async () => {
    const small = await createGpuEngine({ maxTileSize: 1000 })
    try {
      const B = 2500
      const r = rng(5)
      const x = randomArray(r, B, -2, 2)
      const y = randomArray(r, B, -1, 3)
      const xb = small.device.createBuffer({ size: B * 4, usage: STORAGE | COPY_SRC | COPY_DST })
      small.device.queue.writeBuffer(xb, 0, x)
      const res = await small.compile(g).runToBuffer({ x: { buffer: xb, length: B }, y, a: 100 })
      const c = compareResults(await readResident(res, small.device), evaluateCpu(g, { x, y, a: 100 }, { precision: 'f32' }))
      expect(c.maxError, c.where).toBeLessThan(1e-4)
    } finally {
      small.destroy()
    }
  })

  test('bad GPU bindings fail loudly: out of range, too-small into, a buffer without COPY_SRC', async () => {
    const xb = gpuArray(new Float32Array(10))
    await expect(engine.evaluate(g, { x: { buffer: xb, length: 11 }, y: new Float32Array(11), a: 1 })).rejects.toThrow(BindingError)
    await expect(engine.evaluate(g, { x: { buffer: xb, offset: 2, length: 4 }, y: new Float32Array(4), a: 1 })).rejects.toThrow(/multiple of 4/)
    const tiny = engine.device.createBuffer({ size: 16, usage: STORAGE | COPY_DST })
    await expect(engine.compile(g).runToBuffer({ x: { buffer: xb, length: 10 }, y: new Float32Array(10), a: 1 }, { into: tiny })).rejects.toThrow(BindingError)
    // Validation error inside WebGPU (source not COPY_SRC) surfaces as DeviceError, never as zeros.
    const noCopy = engine.device.createBuffer({ size: 40, usage: STORAGE })
    const err = await engine.evaluate(g, { x: { buffer: noCopy, length: 10 }, y: new Float32Array(10), a: 1 }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DeviceError)
    // And the engine is still usable afterwards.
    const ok = await engine.evaluate(g, { x: [1], y: [1], a: 100 })
    expect(Array.from(ok.values.f!)).toEqual([0])
    for (const b of [xb, tiny, noCopy]) b.destroy()
  })
})
