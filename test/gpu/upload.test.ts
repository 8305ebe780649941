/**
 * The two ways inputs reach the GPU (engine option `upload`): through each slot's persistent mapped
 * buffer ('staging', the default on a GPU) and through queue.writeBuffer (the default on a software adapter). Both engines share one device and run the same kernels, so their results
 * must agree bit for bit, on every kind of binding, over several tiles, pipelined, profiled,
 * resident, summed and concurrent; and both must match the float64 reference.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { BindingError, createGpuEngine, Graph, type Bindings, type GpuEngine, type GpuResults } from '../../src/index.js'
import { COPY_DST, COPY_SRC, MAP_READ, STORAGE } from '../../src/gpu/buffers.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

let staged: GpuEngine
let direct: GpuEngine
beforeAll(async () => {
  // Tiles of 1,000 bindings: a batch of 4,321 takes five, alternating the two slots.
  staged = await createGpuEngine({ upload: 'staging', maxTileSize: 1000 })
  direct = await createGpuEngine({ upload: 'writeBuffer', maxTileSize: 1000, device: staged.device })
})
afterAll(() => {
  direct?.destroy()
  staged?.destroy()
})

/** f and g over inputs of every binding kind (x f32, y f64, z plain array, u broadcast, v GPU buffer) and a parameter a. */
function graph(): Graph {
  const g = new Graph()
  const [x, y, z, u, v] = ['x', 'y', 'z', 'u', 'v'].map((n) => g.input(n)) as [ReturnType<Graph['input']>, ReturnType<Graph['input']>, ReturnType<Graph['input']>, ReturnType<Graph['input']>, ReturnType<Graph['input']>]
  const a = g.param('a')
  g.output('f', a.mul(x.sin()).mul(y).add(z.mul(u)).sub(v.mul(v)))
  g.output('g', x.mul(z).add(a.mul(v).tanh()))
  return g
}

const B = 4321

function bindings(seed: number): { bindings: Bindings; host: Record<string, Float32Array> } {
  const r = rng(seed)
  const x = randomArray(r, B, -2, 2)
  const y = Float64Array.from(randomArray(r, B, -1, 1))
  const z = Array.from(randomArray(r, B, -3, 3))
  const v = randomArray(r, B, -1, 1)
  const vb = staged.device.createBuffer({ size: B * 4, usage: STORAGE | COPY_SRC | COPY_DST })
  staged.device.queue.writeBuffer(vb, 0, v)
  const host = { x, y: Float32Array.from(y), z: Float32Array.from(z), u: new Float32Array(B).fill(2.5), v }
  return { bindings: { x, y, z, u: 2.5, v: { buffer: vb, length: B }, a: 0.7 }, host: { ...host } }
}

function expectIdentical(a: GpuResults, b: GpuResults): void {
  for (const o of ['f', 'g']) {
    expect(a.values[o]).toEqual(b.values[o])
    for (const i of Object.keys(b.jacobian[o]!)) expect(a.jacobian[o]![i]).toEqual(b.jacobian[o]![i])
  }
}

describe("upload: 'staging' and 'writeBuffer'", () => {
  test('every binding kind, five tiles, runs back to back: the same bits as writeBuffer, and the reference', async () => {
    const g = graph()
    for (const seed of [1, 2, 3]) {
      const { bindings: b, host } = bindings(seed)
      const [s, d] = [await staged.evaluate(g, b), await direct.evaluate(g, b)]
      expectIdentical(s, d)
      expectMatchesReference(s, g, { ...host, a: 0.7 }, 2e-5)
    }
    // The staging engine keeps an upload buffer per slot; the other none.
    expect(staged.stats().buffers).toBeGreaterThan(direct.stats().buffers)
  })

  test('profiled, resident, summed with weights, and concurrent runs agree too', async () => {
    const g = graph()
    const { bindings: b } = bindings(7)
    const profiled = await staged.evaluate(g, b, { profile: true })
    expect(profiled.timings!.upload).toBeGreaterThan(0)
    expectIdentical(profiled, await direct.evaluate(g, b))

    const weights = randomArray(rng(8), B, 0, 1)
    const [ws, wd] = [await staged.evaluate(g, b, { weights, sumsOnly: true }), await direct.evaluate(g, b, { weights, sumsOnly: true })]
    expect(ws.gradients).toEqual(wd.gradients)
    expect(ws.totals).toEqual(wd.totals)

    const [rs, rd] = [await staged.evaluateToBuffer(g, b), await direct.evaluateToBuffer(g, b)]
    const read = async (buffer: GPUBuffer) => {
      const device = staged.device
      const out = device.createBuffer({ size: buffer.size, usage: MAP_READ | COPY_DST })
      const enc = device.createCommandEncoder()
      enc.copyBufferToBuffer(buffer, 0, out, 0, buffer.size)
      device.queue.submit([enc.finish()])
      await out.mapAsync(1)
      const data = new Float32Array(out.getMappedRange()).slice()
      out.destroy()
      return data
    }
    expect(await read(rs.buffer)).toEqual(await read(rd.buffer))
    rs.buffer.destroy()
    rd.buffer.destroy()

    const runs = [11, 12, 13].map((seed) => bindings(seed).bindings)
    const together = await Promise.all(runs.map((r) => staged.evaluate(g, r)))
    for (let i = 0; i < runs.length; i++) expectIdentical(together[i]!, await direct.evaluate(g, runs[i]!))
  })

  test("the default is 'staging' on a GPU and 'writeBuffer' on a software adapter; an option overrides it", async () => {
    expect(staged.upload).toBe('staging')
    expect(direct.upload).toBe('writeBuffer')
    const plain = await createGpuEngine({ device: staged.device })
    try {
      // The adapter's own words decide (lavapipe, llvmpipe, SwiftShader: software).
      const software = /software|llvmpipe|lavapipe|swiftshader/i.test(plain.description)
      expect(plain.software).toBe(software)
      expect(plain.upload).toBe(software ? 'writeBuffer' : 'staging')
    } finally {
      plain.destroy()
    }
  })

  test('an unknown upload mode is a BindingError', async () => {
    await expect(createGpuEngine({ upload: 'fast' as 'staging' })).rejects.toThrow(BindingError)
  })
})
