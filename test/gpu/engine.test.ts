import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createGpuEngine, DeviceError, evaluateCpu, Graph, OP_NAMES, OPS, parse, type GpuEngine } from '../../src/index.js'
import { buildsDone, expectMatchesReference, opCase, randomArray, rng } from './setup.js'

let engine: GpuEngine

beforeAll(async () => {
  // No skip: without an adapter this throws and every test here fails (CI installs lavapipe).
  engine = await createGpuEngine()
})
afterAll(() => engine?.destroy())

test('a real WebGPU adapter runs the tests', () => {
  expect(engine.description).toMatch(/^webgpu: /)
  console.log(`[gpu] ${engine.description}`)
})

describe('every op: GPU vs the f32-faithful reference on its domain', () => {
  // Scaled error allowed: WGSL built-ins are looser than correctly rounded f32 (exp/log/pow go
  // through exp2/log2; erf is a 1.2e-7 fit); 2e-5 is ~170 f32 ulps, far below any formula bug.
  for (const name of OP_NAMES) {
    test(name, async () => {
      const { graph, bindings } = opCase(name, 2048, 1234 + name.length)
      expectMatchesReference(await engine.evaluate(graph, bindings), graph, bindings, 2e-5)
    })
  }

  test.each([['x^2'], ['x^3'], ['x^-1'], ['x^-2'], ['x^0.5'], ['x^-0.5'], ['x^2.5'], ['x^y'], ['(-x)^3'], ['(-x)^y'], ['2^x'], ['x^4 - x^-3']])(
    'pow specialisations: %s',
    async (src) => {
      const g = parse(`f = ${src}`)
      const r = rng(99)
      const B = 1024
      const bindings: Record<string, Float32Array> = { x: randomArray(r, B, 0.3, 2.5) }
      if (g.inputs.includes('y')) bindings.y = randomArray(r, B, -3, 3).map((v) => (src === '(-x)^y' ? Math.round(v) : v))
      expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 2e-5)
    },
  )
})

describe('batch sizes and tiling', () => {
  const g = parse('f = (1-x)^2 + 100*(y-x^2)^2; g = sin(x*y) + exp(-x^2); h = g * f')
  for (const B of [1, 63, 64, 65, 1037, 65536 + 3]) {
    test(`B = ${B}`, async () => {
      const r = rng(B)
      const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -1, 3) }
      const gpu = await engine.evaluate(g, bindings)
      expect(gpu.size).toBe(B)
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

  test('2^20 + 3 bindings: two tiles of the default size', async () => {
    const B = (1 << 20) + 3
    const r = rng(7)
    const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -1, 3) }
    expectMatchesReference(await engine.evaluate(g, bindings), g, bindings, 1e-4)
  })

  test('B = 0 gives empty arrays', async () => {
    const gpu = await engine.evaluate(g, { x: [], y: [] })
    expect(Object.keys(gpu.values)).toEqual(['h'])
    expect(gpu.values.h).toEqual(new Float32Array(0))
    expect(gpu.jacobian.h!.y).toEqual(new Float32Array(0))
  })
})

describe('shapes and semantics', () => {
  test('a constant beyond float32 in a derivative keeps the zero-adjoint guard: ∂ where(x > 0, y·1e39, 0)/∂y is 0 where x ≤ 0', async () => {
    // 1e39 is finite in float64 but ∞ in float32: the untaken branch's adjoint 0 times it must stay 0.
    const g = parse('f = where(x > 0, y * 1e39, 0) + 1e-50 * y')
    const x = new Float32Array([-1, 0, 2])
    const y = new Float32Array([1, 1, 1])
    for (const tier of ['fused', 'interpreter'] as const) {
      const r = await engine.evaluate(g, { x, y }, { tier })
      expect(Array.from(r.jacobian.f!.y!.subarray(0, 2)), tier).toEqual([0, 0])
      expect(r.jacobian.f!.y![2], tier).toBe(Infinity)
    }
    expect(Array.from(evaluateCpu(g, { x, y }, { precision: 'f32' }).jacobian.f!.y!)).toEqual([0, 0, Infinity])
  })

  test('multiple outputs, an output that is an input, a constant output, an unused input', async () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    g.input('unused')
    g.output('p', x.mul(y).add(y.sin()))
    g.output('q', x.div(y.add(3)))
    g.output('same', x)
    g.output('k', 2.5)
    const r = rng(3)
    const B = 777
    const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2), unused: randomArray(r, B, 0, 1) }
    const gpu = await engine.evaluate(g, bindings)
    expectMatchesReference(gpu, g, bindings, 1e-5)
    expect(Array.from(gpu.jacobian.same!.x!).every((v) => v === 1)).toBe(true)
    expect(Array.from(gpu.values.k!).every((v) => v === 2.5)).toBe(true)
    expect(Array.from(gpu.jacobian.p!.unused!).every((v) => v === 0)).toBe(true)
  })

  test('a NaN input poisons only its own binding', async () => {
    const g = parse('f = x*y + log(x)')
    const x = new Float32Array([1, NaN, 2, 3])
    const y = new Float32Array([1, 1, NaN, 1])
    const gpu = await engine.evaluate(g, { x, y })
    const ref = evaluateCpu(g, { x, y })
    expect(Number.isNaN(gpu.values.f![1]!)).toBe(true)
    expect(Number.isNaN(gpu.values.f![2]!)).toBe(true)
    for (const i of [0, 3]) {
      expect(gpu.values.f![i]).toBeCloseTo(ref.values.f![i]!, 5)
      expect(gpu.jacobian.f!.x![i]).toBeCloseTo(ref.jacobian.f!.x![i]!, 5)
    }
  })

  test('an untaken where() branch does not poison the gradient (as in the reference)', async () => {
    const g = parse('f = where(x > 0, sqrt(x), 0)')
    const x = new Float32Array([0, 4, -1])
    const gpu = await engine.evaluate(g, { x })
    expect(Array.from(gpu.jacobian.f!.x!)).toEqual([0, 0.25, 0])
  })

  test('outside their domains log and log1p give -Inf / NaN as the reference does (WGSL leaves them undefined)', async () => {
    const g = parse('f = log(x); g = log1p(x - 1); h = x^y')
    const x = new Float32Array([-1, 0, 2, -0.5])
    const y = new Float32Array([2.5, 3, 1.5, 2])
    const gpu = await engine.evaluate(g, { x, y })
    const ref = evaluateCpu(g, { x, y }, { precision: 'f32' })
    expect(Array.from(ref.values.f!)).toEqual([NaN, -Infinity, Math.fround(Math.log(2)), NaN])
    expectMatchesReference(gpu, g, { x, y }, 2e-5)
  })

  test('sin, cos, tan stay accurate far from 0 (own range reduction, not the loose WGSL built-ins)', async () => {
    // tan gets its own input: near a pole, tan(x / 100) would magnify the division's rounding, which
    // WGSL allows to be 2.5 ulp (an NVIDIA driver's is 1 ulp off where the reference rounds exactly).
    const g = parse('s = sin(x); c = cos(x); t = tan(u)')
    const x = randomArray(rng(77), 4096, -300, 300)
    const u = randomArray(rng(78), 4096, -30, 30)
    const gpu = await engine.evaluate(g, { x, u })
    // Absolute error: a few f32 ulps of a number of size 1 (WGSL itself only promises 2^-11 near 0).
    const ref = evaluateCpu(g, { x, u }, { precision: 'f32' })
    let worst = 0
    for (const o of ['s', 'c']) for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(gpu.values[o]![i]! - ref.values[o]![i]!))
    expect(worst).toBeLessThan(2e-6)
    expectMatchesReference(gpu, g, { x, u }, 2e-5)
  })

  test('a label like an internal name (t1) and an exponent beyond f32 range compile and match', async () => {
    const g = parse('f = sin(x) * t1 + x^1e39')
    const b = { x: new Float32Array([0.5, 2]), t1: new Float32Array([2, 3]) }
    expectMatchesReference(await engine.evaluate(g, b), g, b, 1e-5)
  })

  test('every op on NaN, ±Inf and 0 in every argument gives what the f32 reference gives', async () => {
    const special = [NaN, Infinity, -Infinity, 0, 1, -1]
    const mismatches: string[] = []
    for (const name of OP_NAMES) {
      const spec = OPS[name]
      const g = new Graph()
      g.output('f', g.apply(name, spec.domain.map((_, i) => g.input(`a${i}`))))
      // Every combination of special values over the arguments.
      const combos: number[][] = [[]]
      for (let i = 0; i < spec.arity; i++) combos.splice(0, combos.length, ...combos.flatMap((c) => special.map((v) => [...c, v])))
      const bindings = Object.fromEntries(spec.domain.map((_, i) => [`a${i}`, Float32Array.from(combos, (c) => c[i]!)]))
      const gpu = await engine.evaluate(g, bindings)
      const ref = evaluateCpu(g, bindings, { precision: 'f32' })
      // Finite results within the per-op tolerance (2e-5); non-finite ones exactly.
      const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 2e-5 * Math.max(1, Math.abs(b))
      combos.forEach((c, j) => {
        if (!same(gpu.values.f![j]!, ref.values.f![j]!)) mismatches.push(`${name}(${c.join(', ')}) = ${gpu.values.f![j]} (reference ${ref.values.f![j]})`)
      })
    }
    expect(mismatches).toEqual([])
  })

  test('constants beyond float32 range become ±inf or 0 on the GPU, as in the f32 reference', async () => {
    const g = parse('f = x * 1e40; g = x * -1e39 + 1; h = x * 1e-50 + x')
    const x = new Float32Array([1, -2, 0.5])
    const gpu = await engine.evaluate(g, { x })
    expect(Array.from(gpu.values.f!)).toEqual([Infinity, -Infinity, Infinity])
    expectMatchesReference(gpu, g, { x }, 1e-6)
  })

  test('bindings may be number[], Float64Array or Float32Array', async () => {
    const g = parse('f = x * y')
    const gpu = await engine.evaluate(g, { x: [1, 2, 3], y: new Float64Array([4, 5, 6]) })
    expect(Array.from(gpu.values.f!)).toEqual([4, 10, 18])
    expect(Array.from(gpu.jacobian.f!.y!)).toEqual([1, 2, 3])
    expect(gpu.values.f).toBeInstanceOf(Float32Array)
  })

  test('bad bindings reject with BindingError before any GPU work', async () => {
    const g = parse('f = x * y')
    await expect(engine.evaluate(g, { x: [1] })).rejects.toThrow(/missing binding for 'y'/)
    await expect(engine.evaluate(g, { x: [1], y: [1, 2] })).rejects.toThrow(/unequal lengths/)
  })
})

describe('kernels, caching and resources', () => {
  test('compile() gives a reusable kernel with its WGSL and plan', async () => {
    const g = parse('f = x*x + y')
    const k = engine.compile(g)
    expect(k.wgsl).toContain('@compute')
    expect(k.plan.rows.map((r) => `${r.kind}:${r.output}:${r.input ?? ''}`)).toEqual(['value:f:', 'jacobian:f:x', 'jacobian:f:y'])
    await k.ready
    const a = await k.run({ x: [2], y: [1] })
    const b = await k.run({ x: [3], y: [1] })
    expect(a.values.f![0]).toBe(5)
    expect(b.values.f![0]).toBe(10)
    expect(b.jacobian.f!.x![0]).toBe(6)
  })

  test('1000 evaluations keep GPU buffers and JS heap flat', async () => {
    const g = parse('f = sin(x) * y')
    const r = rng(5)
    const bindings = { x: randomArray(r, 4096, -1, 1), y: randomArray(r, 4096, -1, 1) }
    for (let i = 0; i < 20; i++) await engine.evaluate(g, bindings)
    // (Its second run queued the background fused build: done before the count.)
    await buildsDone(engine)
    const before = engine.stats()
    globalThis.gc?.()
    const heap0 = process.memoryUsage().heapUsed
    for (let i = 0; i < 1000; i++) await engine.evaluate(g, bindings)
    globalThis.gc?.()
    const heap1 = process.memoryUsage().heapUsed
    expect(engine.stats()).toEqual(before)
    // Each run allocates ~48 KiB of result arrays; 1000 runs would be ~48 MiB if they leaked.
    expect(heap1 - heap0).toBeLessThan(24 * 1024 * 1024)
  })

  test("run(b, { into }) fills the caller's arrays (no allocation per run) with the same numbers", async () => {
    const g = parse('f = x*y + sin(x); h = y^2')
    const kernel = engine.compile(g)
    const r = rng(9)
    const B = 3000
    const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2) }
    const fresh = await kernel.run(bindings)
    const into = {
      values: { f: new Float32Array(B), h: new Float32Array(B + 10) },
      jacobian: { f: { x: new Float32Array(B), y: new Float32Array(B) }, h: { x: new Float32Array(B), y: new Float32Array(B) } },
    }
    const got = await kernel.run(bindings, { into })
    expect(got.values.f).toBe(into.values.f)
    expect(got.jacobian.h!.y).toBe(into.jacobian.h.y)
    expect(got.values.h!.length).toBe(B)
    expect(Array.from(got.values.h!)).toEqual(Array.from(fresh.values.h!))
    expect(Array.from(into.jacobian.f.x)).toEqual(Array.from(fresh.jacobian.f!.x!))
    const short = { ...into, values: { ...into.values, f: new Float32Array(B - 1) } }
    await expect(kernel.run(bindings, { into: short })).rejects.toThrow(/into.values.f has 2999 elements/)
  })

  test('concurrent evaluations on one engine are all correct', async () => {
    const graphs = [parse('f = x*y'), parse('f = sin(x) + y^2'), parse('f = max(x, y) * 3')]
    const jobs = Array.from({ length: 24 }, (_, i) => {
      const g = graphs[i % 3]!
      const r = rng(i)
      const B = 100 + 37 * i
      const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -2, 2) }
      return engine.evaluate(g, bindings).then((gpu) => expectMatchesReference(gpu, g, bindings, 1e-5))
    })
    await Promise.all(jobs)
  })
})

describe('errors are never silent', () => {
  test('a WGSL error raises ShaderError with line:column and the source', async () => {
    const sin = OPS.sin as { wgsl: unknown }
    const original = sin.wgsl
    sin.wgsl = ([a]: string[]) => `sinn(${a})`
    try {
      const k = engine.compile(parse('f = sin(x)'))
      const err = await k.ready.then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(Error)
      const e = err as { name: string; line: number; column: number; source: string; message: string }
      expect(e.name).toBe('ShaderError')
      const line = e.source.split('\n')[e.line - 1]!
      expect(line).toContain('sinn(')
      expect(e.column).toBeGreaterThan(0)
      expect(e.message).toMatch(/sinn/)
      await expect(k.run({ x: [1] }, { tier: 'fused' })).rejects.toThrow(/WGSL compilation failed/)
    } finally {
      sin.wgsl = original
    }
  })

  test('a graph without outputs is a GraphError', async () => {
    const g = new Graph()
    g.input('x')
    expect(() => engine.compile(g)).toThrow(/no outputs/)
    await expect(engine.evaluate(g, { x: [1] })).rejects.toThrow(/no outputs/)
  })

  test('a destroyed engine rejects with DeviceError', async () => {
    const e = await createGpuEngine()
    e.destroy()
    await expect(e.evaluate(parse('f = x'), { x: [1] })).rejects.toThrow(/destroyed/)
  })

  test('a caller-supplied device: results are right, and its loss fails the next call', async () => {
    const own = await createGpuEngine()
    const shared = await createGpuEngine({ device: own.device })
    const g = parse('f = x*3')
    const gpu = await shared.evaluate(g, { x: [1, 2] })
    expect(Array.from(gpu.values.f!)).toEqual([3, 6])
    own.device.destroy()
    const err = await shared.evaluate(g, { x: [1, 2] }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DeviceError)
    console.log(`[gpu] after device.destroy(): ${(err as Error).message}`)
    own.destroy()
  })
})
