/**
 * The GPU differential tests again, inside headless Chromium (vitest browser mode): createGpuEngine()
 * takes navigator.gpu there, and Chromium's adapter without a GPU is SwiftShader (Vulkan on the
 * CPU). Every expectation comes from the f32-faithful CPU reference, never from GPU output. No
 * skip: without navigator.gpu or an adapter, every test here fails with the DeviceError.
 *
 * SwiftShader's WGSL sin/cos built-ins are loose (1.9e-4 absolute on [-3, 3], inside WGSL's 2^-11),
 * which is why wavegrad computes sin/cos/tan itself (shaders/wg_sincos.wgsl): the tolerances here
 * are the Node suite's.
 */
import fc from 'fast-check'
import { afterAll, beforeEach, describe, expect, test } from 'vitest'
import { compareResults, createEngine, createGpuEngine, evaluateCpu, Graph, OP_NAMES, OPS, parse, type GpuEngine, type OpName, type Results } from '../../src/index.js'
import { expectMatchesReference, opCase, randomArray, randomDag, rng } from '../gpu/setup.js'

let engine: GpuEngine
/** Largest scaled error seen per op, printed at the end (the report's source for tolerances). */
const opErrors = new Map<OpName, number>()

// Each test awaits the engine in beforeEach, so with no adapter every test FAILS with the
// DeviceError (a failing beforeAll would leave them reported as skipped).
const ready = createGpuEngine()
ready.catch(() => undefined)
beforeEach(async () => {
  engine = await ready
})
afterAll(() => {
  if (opErrors.size > 0) console.log(`[browser] scaled error per op: ${[...opErrors].map(([n, e]) => `${n} ${e.toExponential(1)}`).join(', ')}`)
  engine?.destroy()
})

test('Chromium runs the tests on its SwiftShader WebGPU adapter, through navigator.gpu', () => {
  // The Node path (the `webgpu` package) must not be what ran: this is the page's own WebGPU.
  expect(typeof navigator.gpu?.requestAdapter).toBe('function')
  expect(navigator.userAgent).toMatch(/Chrome\//)
  const info = engine.device.adapterInfo
  console.log(
    `[browser] ${engine.description} (vendor '${info.vendor}', architecture '${info.architecture}', device '${info.device}', ` +
      `description '${info.description}'; maxStorageBufferBindingSize ${engine.device.limits.maxStorageBufferBindingSize}, ` +
      `maxComputeWorkgroupsPerDimension ${engine.device.limits.maxComputeWorkgroupsPerDimension}; ${navigator.userAgent})`,
  )
  expect(engine.description).toMatch(/^webgpu: .*swiftshader/i)
})

describe('every op: GPU vs the f32-faithful reference on its domain', () => {
  // Scaled error allowed, as in test/gpu/engine.test.ts: WGSL built-ins are looser than correctly
  // rounded f32 (exp/log/pow go through exp2/log2; erf is a 1.2e-7 fit); 2e-5 is ~170 f32 ulps,
  // far below any formula bug.
  for (const name of OP_NAMES) {
    test(name, async () => {
      const { graph, bindings } = opCase(name, 2048, 1234 + name.length)
      opErrors.set(name, expectMatchesReference(await engine.evaluate(graph, bindings), graph, bindings, 2e-5))
    })
  }

  // (-x)^y (a negative base) is in 'known divergences' below: its ∂/∂y is NaN in the reference.
  test.each([['x^2'], ['x^3'], ['x^-1'], ['x^-2'], ['x^0.5'], ['x^-0.5'], ['x^2.5'], ['x^y'], ['(-x)^3'], ['2^x'], ['x^4 - x^-3']])(
    'pow specialisations: %s',
    async (src) => {
      const g = parse(`f = ${src}`)
      const r = rng(99)
      const B = 1024
      const bindings: Record<string, Float32Array> = { x: randomArray(r, B, 0.3, 2.5) }
      if (g.inputs.includes('y')) bindings.y = randomArray(r, B, -3, 3)
      expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 2e-5)
    },
  )
})

describe('batch sizes and tiling', () => {
  // The Node suite's graph with tanh for sin (see the top of this file): a misplaced binding, row or
  // tile shows up as an O(1) error, far above 1e-4 (measured here: 8e-6 at most).
  const g = parse('f = (1-x)^2 + 100*(y-x^2)^2; g = tanh(x*y) + exp(-x^2); h = g * f')
  // Around 64, odd sizes, 2^16 + 3, and two tiles of the default 2^20 bindings (2^20 + 3).
  for (const B of [1, 63, 64, 65, 1037, 65536 + 3, (1 << 20) + 3]) {
    test(`B = ${B}`, async () => {
      const r = rng(B)
      const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -1, 3) }
      const gpu = await engine.evaluate(g, bindings)
      expect(gpu.size).toBe(B)
      expect(gpu.values.h).toBeInstanceOf(Float32Array)
      expect(gpu.backend).toContain(engine.description)
      expectMatchesReference(gpu, g, bindings, 1e-4)
    })
  }

  test('batches larger than a tile (tile capped at 1000: 3 tiles, the last one short)', async () => {
    const small = await createGpuEngine({ maxTileSize: 1000 })
    try {
      for (const B of [1000, 2500]) {
        const r = rng(B)
        const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -1, 3) }
        expectMatchesReference(await small.evaluate(g, bindings), g, bindings, 1e-4)
      }
    } finally {
      small.destroy()
    }
  })
})

describe('shapes and semantics', () => {
  test('multiple outputs, an output that is an input, a constant output, an unused input', async () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    g.input('unused')
    g.output('p', x.mul(y).add(y.exp()))
    g.output('q', x.div(y.add(3)))
    g.output('same', x)
    g.output('k', 2.5)
    const r = rng(3)
    const B = 777
    const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2), unused: randomArray(r, B, 0, 1) }
    const gpu = await engine.evaluate(g, bindings)
    expectMatchesReference(gpu, g, bindings, 1e-5)
    const ref = evaluateCpu(g, bindings, { precision: 'f32' })
    expect(Array.from(gpu.jacobian.same!.x!)).toEqual(Array.from(ref.jacobian.same!.x!))
    expect(Array.from(gpu.values.k!)).toEqual(Array.from(ref.values.k!))
    expect(Array.from(gpu.jacobian.p!.unused!)).toEqual(Array.from(ref.jacobian.p!.unused!))
  })

  test('a NaN input poisons only its own binding', async () => {
    const g = parse('f = x*y + log(x)')
    const B = 200
    const r = rng(11)
    const x = randomArray(r, B, 0.5, 2)
    const y = randomArray(r, B, -2, 2)
    // NaNs in either input, on both sides of the 64 and 128 boundaries.
    const poisoned = [1, 63, 64, 127, 128, 130]
    for (const [i, a] of [[1, x], [63, y], [64, x], [127, y], [128, x], [130, y]] as const) a[i] = NaN
    const gpu = await engine.evaluate(g, { x, y })
    const ref = evaluateCpu(g, { x, y }, { precision: 'f32' })
    const rows = [gpu.values.f!, gpu.jacobian.f!.x!, gpu.jacobian.f!.y!]
    const refRows = [ref.values.f!, ref.jacobian.f!.x!, ref.jacobian.f!.y!]
    for (let i = 0; i < B; i++) {
      const bad = poisoned.includes(i)
      // The reference agrees on which entries are NaN, so the comparison below is not vacuous.
      expect(Number.isNaN(ref.values.f![i]!), `reference binding ${i}`).toBe(bad)
      expect(Number.isNaN(gpu.values.f![i]!), `values.f[${i}]`).toBe(bad)
      rows.forEach((row, k) => expect(Number.isNaN(row[i]!), `row ${k} [${i}]`).toBe(Number.isNaN(refRows[k]![i]!)))
    }
    expectMatchesReference(gpu, g, { x, y }, 2e-5)
  })

  test('an untaken where() branch does not poison the gradient (as in the reference)', async () => {
    const g = parse('f = where(x > 0, sqrt(x), 0)')
    const x = new Float32Array([0, 4, -1])
    const gpu = await engine.evaluate(g, { x })
    const ref = evaluateCpu(g, { x }, { precision: 'f32' })
    expect(Array.from(gpu.jacobian.f!.x!)).toEqual(Array.from(ref.jacobian.f!.x!))
  })
})

describe('random DAGs (fast-check): GPU values and Jacobians equal the f32-faithful reference', () => {
  test('within 1e-4, as in the Node suite', async () => {
    await fc.assert(
      fc.asyncProperty(randomDag, async ({ graph, bindings }) => {
        expectMatchesReference(await engine.evaluate(graph, bindings), graph, bindings, 1e-4)
      }),
      { numRuns: 40, seed: 20261126 },
    )
  })
})

describe('log outside its domain: IEEE results on every adapter', () => {
  // WGSL leaves log() outside its domain indeterminate: SwiftShader returns log|x| for x < 0 and
  // -88.03 for log(0). wavegrad's wg_log helper returns -Inf and NaN there, as the reference does
  // (the log op, log1p, and ∂(a^b)/∂b = a^b·ln a).
  // Bindings 0-2 are outside log's domain; 3-4 inside.
  const logInputs = { x: new Float32Array([-1, 0, -0.5, 2, 0.5]) }

  test('log(x) at x < 0 and x = 0 equals the reference (NaN, -Inf)', async () => {
    const g = parse('f = log(x)')
    expectMatchesReference(await engine.evaluate(g, logInputs), g, logInputs, 2e-5)
  })

  test('log(x) inside its domain, next to bindings outside it: equal to the reference', async () => {
    const g = parse('f = log(x)')
    const gpu = await engine.evaluate(g, logInputs)
    const ref = evaluateCpu(g, logInputs, { precision: 'f32' })
    expect(Array.from(ref.values.f!.subarray(0, 3))).toEqual([NaN, -Infinity, NaN])
    const inside = (r: Results<ArrayLike<number>>): Results<number[]> => ({ ...r, values: { f: Array.from(r.values.f!).slice(3) }, jacobian: { f: { x: Array.from(r.jacobian.f!.x!).slice(3) } }, size: 2 })
    const c = compareResults(inside(gpu), inside(ref))
    expect(c.maxError, c.where).toBeLessThanOrEqual(2e-5)
  })

  test('(-x)^y with integer y: ∂/∂y equals the reference (NaN for a negative base)', async () => {
    const g = parse('f = (-x)^y')
    const r = rng(99)
    const B = 1024
    const bindings = { x: randomArray(r, B, 0.3, 2.5), y: randomArray(r, B, -3, 3).map((v) => Math.round(v)) }
    expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 2e-5)
  })

  test('(-x)^y with integer y: values and ∂/∂x equal the reference', async () => {
    const g = parse('f = (-x)^y')
    const r = rng(99)
    const B = 1024
    const bindings = { x: randomArray(r, B, 0.3, 2.5), y: randomArray(r, B, -3, 3).map((v) => Math.round(v)) }
    const gpu = await engine.evaluate(g, bindings)
    const ref = evaluateCpu(g, bindings, { precision: 'f32' })
    const c = compareResults(
      { ...gpu, jacobian: { f: { x: gpu.jacobian.f!.x! } } },
      { ...ref, jacobian: { f: { x: ref.jacobian.f!.x! } } },
    )
    expect(c.maxError, c.where).toBeLessThanOrEqual(2e-5)
  })
})

describe('errors are never silent in the browser either', () => {
  test("a WGSL error raises ShaderError with line:column from Chromium's compiler", async () => {
    const sin = OPS.sin as { wgsl: unknown }
    const original = sin.wgsl
    sin.wgsl = ([a]: string[]) => `sinn(${a})`
    try {
      const k = engine.compile(parse('f = sin(x)'))
      const err = await k.ready.then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(Error)
      const e = err as { name: string; line: number; column: number; source: string; message: string }
      expect(e.name).toBe('ShaderError')
      expect(e.source.split('\n')[e.line - 1]).toContain('sinn(')
      expect(e.column).toBeGreaterThan(0)
      await expect(k.run({ x: [1] }, { tier: 'fused' })).rejects.toThrow(/WGSL compilation failed/)
    } finally {
      sin.wgsl = original
    }
  })

  test('a destroyed engine rejects with DeviceError', async () => {
    const e = await createGpuEngine()
    e.destroy()
    await expect(e.evaluate(parse('f = x'), { x: [1] })).rejects.toThrow(/destroyed/)
  })
})

describe('createEngine() in the page: the auto engine', () => {
  test('calibrates, explains, and runs on both backends with the reference numbers (the CPU one on the page thread: no workers here)', async () => {
    const auto = await createEngine()
    try {
      expect(auto.kind).toBe('auto')
      expect(auto.gpu).toBeDefined()
      expect(auto.calibration.cpu.threads).toBe(1)
      const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
      const r = rng(5)
      const b = { x: randomArray(r, 5000, -2, 2), y: randomArray(r, 5000, -1, 3) }
      const why = auto.explain(g, 5000)
      expect(why.backend).toBe(why.predicted.gpu! < why.predicted.cpu ? 'gpu' : 'cpu')
      const ran = await auto.evaluate(g, b)
      expect(ran.backend.startsWith('cpu-js') ? 'cpu' : 'gpu').toBe(why.backend)
      const cpu = await auto.evaluate(g, b, { backend: 'cpu' })
      const want = evaluateCpu(g, b)
      expect(Array.from(cpu.values.f!)).toEqual(Array.from(want.values.f!, Math.fround))
      expect(Array.from(cpu.jacobian.f!.x!)).toEqual(Array.from(want.jacobian.f!.x!, Math.fround))
      expectMatchesReference((await auto.evaluate(g, b, { backend: 'gpu' })) as Parameters<typeof expectMatchesReference>[0], g, b, 1e-4)
    } finally {
      auto.destroy()
    }
  })
})
