import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { AUTO_BUILD_MS, createCpuEngine, createGpuEngine, evaluateCpu, Graph, OP_NAMES, OPS, parse, programOf, rangeCompileMs, type GpuEngine } from '../../src/index.js'
import { buildTape } from '../../src/codegen/interpreter.js'
import { buildsDone, expectMatchesReference, opCase, randomArray, randomDag, rng } from './setup.js'

let engine: GpuEngine
beforeAll(async () => {
  engine = await createGpuEngine({ tier: 'interpreter' })
  await engine.interpreter()
})
afterAll(() => engine?.destroy())

describe('interpreter tier: one shader runs every graph', () => {
  for (const name of OP_NAMES) {
    test(`op ${name} vs the f32-faithful reference`, async () => {
      const { graph, bindings } = opCase(name, 1024, 4321 + name.length)
      const gpu = await engine.evaluate(graph, bindings)
      expect(gpu.tier).toBe('interpreter')
      expectMatchesReference(gpu, graph, bindings, 2e-5)
    })
  }

  test('random DAGs (fast-check), several outputs, odd batch sizes', async () => {
    await fc.assert(
      fc.asyncProperty(randomDag, async ({ graph, bindings }) => {
        const gpu = await engine.evaluate(graph, bindings)
        expect(gpu.tier).toBe('interpreter')
        expectMatchesReference(gpu, graph, bindings, 1e-4)
      }),
      { numRuns: 25, seed: 11 },
    )
  })

  test('broadcast numbers, GPU-buffer inputs and runToBuffer work on the interpreter too', async () => {
    const g = parse('f = a * sin(x) + x^2')
    const x = randomArray(rng(8), 999, -2, 2)
    expectMatchesReference(await engine.evaluate(g, { x, a: 0.5 }), g, { x, a: 0.5 }, 1e-5)
    const res = await engine.compile(g).runToBuffer({ x, a: 0.5 })
    expect(res.tier).toBe('interpreter')
    res.buffer.destroy()
  })

  for (const nodes of [1e4, 1e5]) {
    test(`a ${nodes}-node graph (tape of several 64 KiB chunks, small tiles)`, async () => {
      const g = new Graph()
      const x = g.input('x')
      const y = g.input('y')
      let e = x
      for (let i = 0; i < nodes / 4; i++) e = e.mul(0.9995).add(e.sin().mul(0.0005)).add(y.mul(1e-6))
      g.output('f', e)
      g.output('h', e.tanh())
      const tape = buildTape(programOf(g))
      expect(tape.chunks).toBeGreaterThan(5)
      const r = rng(nodes)
      const bindings = { x: randomArray(r, 300, -2, 2), y: randomArray(r, 300, -1, 1) }
      const gpu = await engine.evaluate(g, bindings)
      expect(gpu.tier).toBe('interpreter')
      expectMatchesReference(gpu, g, bindings, 1e-3)
    })
  }

  test('a node with 5000 consumers: its adjoint, a chain of 5000 terms, crosses tape chunks (more than 4095 instructions)', async () => {
    // ∂f/∂x = Σ_k c_k cos(c_k x): x's 5000 terms are one chain of gmadd nodes, cut by chunk boundaries.
    const g = new Graph()
    const x = g.input('x')
    const cs = Array.from({ length: 5000 }, (_, k) => 0.5 + k / 5000)
    g.output('f', cs.map((c) => x.mul(c).sin()).reduce((acc, e) => acc.add(e)))
    expect(buildTape(programOf(g)).chunks).toBeGreaterThan(1)
    const xs = randomArray(rng(5000), 203, -1, 1)
    const gpu = await engine.evaluate(g, { x: xs })
    expect(gpu.tier).toBe('interpreter')
    xs.forEach((v, i) => {
      const want = cs.reduce((acc, c) => acc + c * Math.cos(c * v), 0)
      expect(Math.abs(gpu.jacobian.f!.x![i]! - want)).toBeLessThan(1e-5 * cs.length) // f32 sum of 5000 terms of size ≤ 1.5
    })
    expectMatchesReference(gpu, g, { x: xs }, 1e-3)
  })

  test("new graphs reuse the register file (a software adapter's is made with the interpreter); tiles are cut to fit it", async () => {
    // ~1,100 registers per binding (the register allocator keeps the chain's values for its reverse
    // sweep, and little else): 2^15 bindings need ~140 MiB of registers, so on a software
    // adapter the run takes several tiles of the (at most 128 MiB) register file, each from where
    // the last one ended (a GPU's storage binding limit may fit them all in one).
    const graphOf = (seed: number) => {
      const g = new Graph()
      const x = g.input('x')
      const y = g.input('y')
      let e = x
      for (let i = 0; i < 1100; i++) e = e.mul(0.999 + seed * 1e-4).add(e.sin().mul(0.001)).add(y.mul(1e-5))
      g.output('f', e)
      return g
    }
    const r = rng(77)
    const bindings = { x: randomArray(r, 1 << 15, -2, 2), y: randomArray(r, 1 << 15, -1, 1) }
    const registers = buildTape(programOf(graphOf(1))).registers
    expect(registers * 16 * (1 << 15) / 4).toBeGreaterThan(128 * 2 ** 20)
    const before = engine.stats().bufferBytes
    const { maxStorageBufferBindingSize, maxBufferSize } = engine.device.limits
    if (engine.software) expect(before).toBeGreaterThanOrEqual(Math.min(128 * 2 ** 20, maxStorageBufferBindingSize, maxBufferSize))
    const first = await engine.compile(graphOf(1)).run(bindings, { profile: true })
    if (engine.software) expect(first.timings!.tiles).toBeGreaterThan(1)
    expectMatchesReference(first, graphOf(1), bindings, 1e-4)
    const after = engine.stats()
    const second = await engine.evaluate(graphOf(2), bindings)
    expectMatchesReference(second, graphOf(2), bindings, 1e-4)
    // The second graph allocated nothing but its tape (2 buffers).
    expect(engine.stats().bufferBytes - after.bufferBytes).toBeLessThan(2 ** 20)
    if (engine.software) expect(after.bufferBytes - before).toBeLessThan(64 * 2 ** 20)
  })

  test('building the interpreter never replaces a register file a run may hold, and makes none for a destroyed engine', async () => {
    // A run holds the register file from its allocation to its submission, across awaits; an
    // interpreter built meanwhile (tier 'fused' engine, interpreter() called) must leave it be.
    const fused = await createGpuEngine({ tier: 'fused', segmentCost: 16, maxTileSize: 1024 })
    try {
      const g = new Graph()
      const x = g.input('x')
      let e = x
      for (let i = 0; i < 40; i++) e = e.mul(1.001).add(e.sin().mul(0.01))
      g.output('f', e)
      const xs = randomArray(rng(40), 4096, -1, 1)
      const k = fused.compile(g)
      expect(k.plan.kernels.length).toBeGreaterThan(1)
      expectMatchesReference(await k.run({ x: xs }), g, { x: xs }, 1e-4)
      const held = fused.stats().bufferBytes
      const run = k.run({ x: xs })
      await fused.interpreter()
      expectMatchesReference(await run, g, { x: xs }, 1e-4)
      expect(fused.stats().bufferBytes).toBe(held)
    } finally {
      fused.destroy()
    }
    // An engine on a caller's device, destroyed while its interpreter builds, holds nothing after.
    const doomed = await createGpuEngine({ tier: 'auto', device: engine.device })
    doomed.destroy()
    await doomed.interpreter().catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(doomed.stats().bufferBytes).toBe(0)
  })
})

describe('interpreter: many outputs', () => {
  test('six outputs: one node as two outputs, disjoint cones, a NaN partial', async () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    const xy = x.mul(y)
    g.output('f0', xy)
    // f1 is f0's node itself: one seed with two bits.
    g.output('f1', xy)
    g.output('f2', y.sin())
    g.output('f3', x.mul(0).sqrt().add(y))
    g.output('f4', x.add(0))
    g.output('f5', xy.add(y.sin()).tanh())
    const r = rng(66)
    const bindings = { x: randomArray(r, 777, -2, 2), y: randomArray(r, 777, -2, 2) }
    const gpu = await engine.evaluate(g, bindings)
    expect(gpu.tier).toBe('interpreter')
    expectMatchesReference(gpu, g, bindings, 1e-4)
    // Hand-derived: ∂f2/∂x = 0 exactly (x is outside f2's cone), ∂f3/∂x = NaN (∞·0) as on every engine.
    for (let i = 0; i < 777; i++) {
      expect(gpu.jacobian.f2!.x![i]).toBe(0)
      expect(gpu.jacobian.f3!.x![i]).toBeNaN()
      expect(gpu.jacobian.f3!.y![i]).toBe(1)
      expect(gpu.jacobian.f1!.x![i]).toBe(gpu.jacobian.f0!.x![i])
      expect(gpu.jacobian.f4!.x![i]).toBe(1)
    }
  })
})

describe('every engine agrees where a zero partial meets an infinite adjoint', () => {
  // sqrt(x*0): ∂sqrt/∂u = ∞ at u = 0 and ∂(x*0)/∂x = 0 (a constant operand, not zero by definition):
  // ∞ · 0 = NaN. 1/(x<1) at x = 2: the comparison's partial is zero by definition, so no term.
  test.each([
    ['f = sqrt(x*0)', NaN],
    ['f = 1/(x<1)', 0],
  ])('%s: ∂f/∂x at x = 2 is %s on the reference, the CPU engine and both GPU tiers', async (src, want) => {
    const g = parse(src)
    const b = { x: [2] }
    const results = [
      evaluateCpu(g, b),
      await createCpuEngine({ compileAfter: 0 }).evaluate(g, b),
      await engine.evaluate(g, b, { tier: 'interpreter' }),
      await engine.evaluate(g, b, { tier: 'fused' }),
    ]
    for (const r of results) expect(r.jacobian.f!.x![0], r.backend).toBe(want)
  })
})

describe('kernels of one graph share its program, not their tapes', () => {
  test("destroying one kernel frees its own tape only: another kernel's interpreter run goes on", async () => {
    const small = await createGpuEngine({ device: engine.device, tier: 'interpreter', maxTileSize: 1024 })
    try {
      const g = parse('f = sin(x) * y + x^3')
      const [k1, k2] = [small.compile(g), small.compile(g)]
      const r = rng(31)
      const bindings = { x: randomArray(r, 200_000, -2, 2), y: randomArray(r, 200_000, -2, 2) }
      await k1.run(bindings)
      // k1 is destroyed while k2's run is in its tile loop (196 tiles, each awaiting a readback).
      const run = k2.run(bindings)
      await new Promise((resolve) => setTimeout(resolve, 15))
      k1.destroy()
      const got = await run
      expect(got.tier).toBe('interpreter')
      expectMatchesReference(got, g, bindings, 1e-5)
      expectMatchesReference(await k1.run(bindings), g, bindings, 1e-5)
    } finally {
      small.destroy()
    }
  })
})

describe("tier 'auto'", () => {
  test('defaults: a new graph runs on the interpreter at once; from its second run its fused kernel is built in the background, then runs: same numbers', async () => {
    const auto = await createGpuEngine()
    try {
      expect(auto.tier).toBe('auto')
      await auto.interpreter()
      const g = parse('f = (1-x)^2 + 100*(y-x^2)^2; h = tanh(x*y)')
      const r = rng(12)
      const bindings = { x: randomArray(r, 3000, -2, 2), y: randomArray(r, 3000, -1, 3) }
      const before = auto.stats().pipelines
      const kernel = auto.compile(g)
      const first = await kernel.run(bindings)
      expect(first.tier).toBe('interpreter')
      // A graph evaluated once never pays for a compile.
      expect(auto.stats()).toMatchObject({ pipelines: before, builds: 0 })
      const second = await kernel.run(bindings)
      expect(auto.stats().builds + auto.stats().pipelines).toBeGreaterThan(before)
      await buildsDone(auto)
      const later = await kernel.run(bindings)
      expect(later.tier).toBe('fused')
      for (const result of [first, second, later]) expectMatchesReference(result, g, bindings, 1e-4)
      // After the switch it is the kernel tier 'fused' builds: the same numbers, bit for bit.
      const fused = await createGpuEngine({ device: auto.device, tier: 'fused' })
      try {
        const forced = await fused.evaluate(g, bindings)
        for (const o of g.outputs) {
          expect(later.values[o]).toEqual(forced.values[o])
          for (const i of g.inputs) expect(later.jacobian[o]![i]).toEqual(forced.jacobian[o]![i])
        }
      } finally {
        fused.destroy()
      }
      // A run may still force a tier.
      expect((await kernel.run(bindings, { tier: 'interpreter' })).tier).toBe('interpreter')
    } finally {
      auto.destroy()
    }
  })

  test('a background build never leaves `ready` hanging: after kernel.destroy() it builds afresh; after engine.destroy() it rejects', async () => {
    const auto = await createGpuEngine()
    try {
      await auto.interpreter()
      const bindings = { x: [0.5, 2], y: [1, -1] }
      const g = parse('f = sin(x) * y + x')
      const kernel = auto.compile(g)
      await kernel.run(bindings)
      await kernel.run(bindings) // queues the build
      kernel.destroy()
      await kernel.ready
      const r = await kernel.run(bindings)
      expect(r.tier).toBe('fused')
      expectMatchesReference(r, g, bindings, 1e-5)
      const h = parse('f = cos(x) * y - x')
      const other = auto.compile(h)
      await other.run(bindings)
      await other.run(bindings)
      auto.destroy()
      const err = await other.ready.then(() => undefined, (e: unknown) => e)
      expect((err as Error).name).toBe('DeviceError')
    } finally {
      auto.destroy()
    }
  })

  test("a graph whose fused compile the model puts beyond AUTO_BUILD_MS stays on the interpreter", async () => {
    const auto = await createGpuEngine()
    try {
      const big = new Graph()
      const y = big.input('y')
      let c = big.input('x')
      for (let i = 0; i < 16_000; i++) c = c.add(c.add(y).sin().mul(1e-5))
      big.output('f', c)
      expect(rangeCompileMs(programOf(big), auto.segmentCost)).toBeGreaterThan(AUTO_BUILD_MS)
      const bindings = { x: [0.5, 1], y: [0.25, -1] }
      for (let run = 0; run < 2; run++) {
        const result = await auto.evaluate(big, bindings)
        expect(result.tier).toBe('interpreter')
        expectMatchesReference(result, big, bindings, 1e-4)
      }
      expect(auto.stats()).toMatchObject({ pipelines: 0, builds: 0 })
    } finally {
      auto.destroy()
    }
  })

  test("a fused build that fails (ShaderError) leaves 'auto' on the interpreter, with right numbers", async () => {
    const auto = await createGpuEngine({ tier: 'auto' })
    const sin = OPS.sin as { wgsl: unknown }
    const original = sin.wgsl
    try {
      await auto.interpreter()
      // Break only the fused kernels' WGSL for sin: the interpreter was built before.
      sin.wgsl = ([a]: string[]) => `sinn(${a})`
      const g = parse('f = sin(x) * y')
      const kernel = auto.compile(g)
      const err = await kernel.ready.then(() => undefined, (e: unknown) => e)
      expect((err as Error).name).toBe('ShaderError')
      sin.wgsl = original
      const bindings = { x: randomArray(rng(13), 500, -2, 2), y: randomArray(rng(14), 500, -2, 2) }
      const r = await kernel.run(bindings)
      expect(r.tier).toBe('interpreter')
      expectMatchesReference(r, g, bindings, 1e-5)
      // Asking for the fused tier explicitly still reports the error.
      await expect(kernel.run(bindings, { tier: 'fused' })).rejects.toThrow(/WGSL compilation failed/)
    } finally {
      sin.wgsl = original
      auto.destroy()
    }
  })
})
