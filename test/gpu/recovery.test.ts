/**
 * Recovery from device loss (issue 21): a run the loss interrupts is retried once on a new device
 * when its inputs are host arrays; what died with the device (GPU-buffer inputs, an `into` buffer)
 * is named in a DeviceError; a caller's device is replaced through onDeviceLost; recovery can be
 * turned off, and gives up after MAX_RECOVERIES losses in ten seconds. Results against the reference.
 */
import { describe, expect, test } from 'vitest'
import { BUFFER_USAGE, createEngine, createGpuEngine, DeviceError, MAX_RECOVERIES, parse, type GpuEngine } from '../../src/index.js'
import { acquireDevice } from '../../src/gpu/device.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

const g = parse('f = sin(x*y) + x^2; h = tanh(y - x)')
function batch(size: number, seed: number) {
  const r = rng(seed)
  return { x: randomArray(r, size, -2, 2), y: randomArray(r, size, -2, 2) }
}
/** Destroys `engine`'s device after its second tile: a run with this onProgress loses it mid-run. */
function loseMidRun(engine: GpuEngine) {
  const device = engine.device
  let tiles = 0
  return { device, onProgress: () => void (++tiles === 2 && device.destroy()) }
}

describe.each(['interpreter', 'fused'] as const)('tier %s', (tier) => {
  test('a run whose device is lost after its second tile completes on a new device, right', async () => {
    const engine = await createGpuEngine({ tier, maxTileSize: 4096 })
    try {
      const b = batch(10 * 4096 + 7, 1)
      const { device, onProgress } = loseMidRun(engine)
      const r = await engine.evaluate(g, b, { onProgress })
      expectMatchesReference(r, g, b, 1e-4)
      expect(r.tier).toBe(tier)
      expect(engine.device).not.toBe(device)
      expect(engine.stats().recoveries).toBe(1)
      // The kernel built before the loss runs on the new device (its pipelines rebuilt).
      const again = batch(5000, 2)
      expectMatchesReference(await engine.evaluate(g, again), g, again, 1e-4)
    } finally {
      engine.destroy()
    }
  })
})

test('runToBuffer: retried into a new buffer of the new device; with an `into` of the lost device, a DeviceError saying so', async () => {
  const engine = await createGpuEngine({ tier: 'interpreter', maxTileSize: 4096 })
  try {
    const kernel = engine.compile(g)
    const b = batch(6 * 4096, 3)
    const { onProgress } = loseMidRun(engine)
    const res = await kernel.runToBuffer(b, { onProgress })
    // The buffer belongs to the new device: copy it out there and compare.
    const device = engine.device
    const read = device.createBuffer({ size: res.buffer.size, usage: BUFFER_USAGE.COPY_DST | BUFFER_USAGE.MAP_READ })
    const enc = device.createCommandEncoder()
    enc.copyBufferToBuffer(res.buffer, 0, read, 0, res.buffer.size)
    device.queue.submit([enc.finish()])
    await read.mapAsync(1)
    const rows = new Float32Array(read.getMappedRange().slice(0))
    const size = b.x.length
    const row = (o: string, i?: string) => rows.slice(res.offset(o, i) / 4, res.offset(o, i) / 4 + size)
    const jacobian = (o: string) => ({ x: row(o, 'x'), y: row(o, 'y') })
    expectMatchesReference({ values: { f: row('f'), h: row('h') }, jacobian: { f: jacobian('f'), h: jacobian('h') }, size, backend: res.backend, tier: res.tier }, g, b, 1e-4)
    res.buffer.destroy()
    read.destroy()

    const into = engine.device.createBuffer({ size: kernel.program.rows.length * size * 4, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC })
    const lose = loseMidRun(engine)
    await expect(kernel.runToBuffer(b, { into, onProgress: lose.onProgress })).rejects.toThrow(/its 'into' buffer was on that device/)
    expect(engine.stats().recoveries).toBe(2)
  } finally {
    engine.destroy()
  }
})

test("GPU-buffer inputs that died with the device: a DeviceError saying so; host inputs work after", async () => {
  const engine = await createGpuEngine({ tier: 'interpreter', maxTileSize: 4096 })
  try {
    const b = batch(8 * 4096, 4)
    const buffer = engine.device.createBuffer({ size: b.x.byteLength, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST })
    engine.device.queue.writeBuffer(buffer, 0, b.x)
    const { onProgress } = loseMidRun(engine)
    const error = await engine.evaluate(g, { x: { buffer, length: b.x.length }, y: b.y }, { onProgress }).then(() => undefined, (e: unknown) => e)
    expect(error).toBeInstanceOf(DeviceError)
    expect(error).toMatchObject({ reason: 'lost' })
    expect((error as Error).message).toMatch(/GPU-buffer inputs were on that device/)
    expectMatchesReference(await engine.evaluate(g, b), g, b, 1e-4)
    // A buffer made before a loss, used after the recovery: a DeviceError that says why.
    const old = engine.device.createBuffer({ size: b.x.byteLength, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST })
    engine.device.destroy()
    expectMatchesReference(await engine.evaluate(g, b), g, b, 1e-4)
    const stale = await engine.evaluate(g, { x: { buffer: old, length: b.x.length }, y: b.y }).then(() => undefined, (e: unknown) => e)
    expect(stale).toMatchObject({ name: 'DeviceError', reason: 'lost' })
    expect((stale as Error).message).toMatch(/GPU buffers made before that belong to the lost device/)
  } finally {
    engine.destroy()
  }
})

test("a caller's device is replaced through onDeviceLost; without a device from it, calls fail with DeviceError 'lost'", async () => {
  const adapter = await acquireDevice({})
  const spare = await acquireDevice({})
  const asked: string[] = []
  const engine = await createGpuEngine({ device: adapter.device, tier: 'interpreter', maxTileSize: 4096, onDeviceLost: (info) => (asked.push(info.reason), spare.device) })
  try {
    const b = batch(6 * 4096, 5)
    const { onProgress } = loseMidRun(engine)
    expectMatchesReference(await engine.evaluate(g, b, { onProgress }), g, b, 1e-4)
    expect(engine.device).toBe(spare.device)
    expect(asked).toEqual(['destroyed'])
    // The hook gives nothing this time: the loss is final, and the hook is not asked again.
    let calls = 0
    const hopeless = await createGpuEngine({ device: (await acquireDevice({})).device, onDeviceLost: () => void calls++ })
    hopeless.device.destroy()
    for (let i = 0; i < 4; i++) await expect(hopeless.evaluate(g, batch(10, 6))).rejects.toMatchObject({ reason: 'lost' })
    expect(calls).toBe(1)
    hopeless.destroy()
  } finally {
    engine.destroy()
    spare.device.destroy()
    adapter.device.destroy()
  }
})

test(`recover: false makes a loss final; otherwise the engine gives up after ${MAX_RECOVERIES} recoveries within ten seconds`, async () => {
  const off = await createGpuEngine({ recover: false })
  off.device.destroy()
  await expect(off.evaluate(g, batch(10, 7))).rejects.toMatchObject({ reason: 'lost' })
  expect(off.stats().recoveries).toBe(0)
  off.destroy()

  const engine = await createGpuEngine({ tier: 'interpreter' })
  try {
    const b = batch(100, 8)
    for (let i = 0; i < MAX_RECOVERIES; i++) {
      engine.device.destroy()
      expectMatchesReference(await engine.evaluate(g, b), g, b, 1e-4)
    }
    expect(engine.stats().recoveries).toBe(MAX_RECOVERIES)
    engine.device.destroy()
    await expect(engine.evaluate(g, b)).rejects.toMatchObject({ reason: 'lost' })
    expect(engine.stats().recoveries).toBe(MAX_RECOVERIES)
  } finally {
    engine.destroy()
  }
})

test('createEngine(): the auto engine goes on after its GPU device is lost', async () => {
  await using engine = await createEngine()
  const b = batch(1 << 15, 9)
  engine.gpu!.device.destroy()
  const r = await engine.evaluate(g, b, { backend: 'gpu' })
  expectMatchesReference({ ...r, tier: r.tier ?? 'fused' }, g, b, 1e-4)
  expect(engine.gpu!.stats().recoveries).toBe(1)
})
