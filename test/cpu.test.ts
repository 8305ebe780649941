import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { BindingError, COMPILE_AFTER, createCpuEngine, createEngine, DeviceError, evaluateCpu, Graph, parse, registerOp } from '../src/index.js'
import { defaultThreads, MIN_PER_THREAD } from '../src/cpu/pool.js'
import { SMOOTH_COUNT, buildSmoothDag, rng } from './core/helpers.js'

/** A GPU object with no adapter, as on a machine without WebGPU drivers. */
const noAdapter = { requestAdapter: async () => null } as unknown as GPU

describe('CPU engine (compiled JavaScript)', () => {
  test('equals the float64 reference to the last bit on random DAGs (same formulas, same order)', async () => {
    const cpu = createCpuEngine({ compileAfter: 0 })
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 300 }),
        fc.nat(),
        async (steps, size, seed) => {
          const g = new Graph()
          const pool = buildSmoothDag(g, ['x', 'y'], steps)
          g.output('f', pool[pool.length - 1]!.expr)
          if (pool.length > 3) g.output('h', pool[2]!.expr)
          const r = rng(seed)
          const b = { x: Float64Array.from({ length: size }, () => r() * 4 - 2), y: Float64Array.from({ length: size }, () => r() * 4 - 2) }
          const got = await cpu.evaluate(g, b)
          const want = evaluateCpu(g, b)
          expect(got.values).toEqual(want.values)
          expect(got.jacobian).toEqual(want.jacobian)
          expect(got.backend).toMatch(/^cpu-js/)
        },
      ),
      { numRuns: 60, seed: 7 },
    )
  })

  test('broadcast numbers, B = 0, a graph without inputs', async () => {
    const cpu = createCpuEngine({ compileAfter: 0 })
    const g = parse('f = a * x^2 + b')
    const r = await cpu.evaluate(g, { a: 2, x: [1, 2, 3], b: -1 })
    expect(Array.from(r.values.f!)).toEqual([1, 7, 17])
    expect(Array.from(r.jacobian.f!.x!)).toEqual([4, 8, 12])
    expect(Array.from(r.jacobian.f!.a!)).toEqual([1, 4, 9])
    expect((await cpu.evaluate(g, { a: [], x: [], b: [] })).values.f).toEqual(new Float64Array(0))
    const k = parse('f = 2 + 3')
    expect(Array.from((await cpu.evaluate(k, {})).values.f!)).toEqual([5])
  })

  test('a 10^4-node graph', async () => {
    const g = new Graph()
    const x = g.input('x')
    let e = x
    for (let i = 0; i < 5000; i++) e = e.mul(0.9995).add(e.sin().mul(0.0005))
    g.output('f', e)
    const b = { x: [0.3, -1.2, 2] }
    const got = await createCpuEngine({ compileAfter: 0 }).evaluate(g, b)
    const want = evaluateCpu(g, b)
    expect(got.values.f).toEqual(want.values.f)
    expect(got.jacobian.f!.x).toEqual(want.jacobian.f!.x)
  })
})

describe('CPU engine at 10^5 nodes', () => {
  test('a 125,007-node graph with two outputs equals the reference to the last bit', async () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    let e = x
    for (let i = 0; i < 25_000; i++) e = e.mul(0.9995).add(e.sin().mul(0.0005)).add(y.mul(1e-6))
    g.output('f', e)
    g.output('h', e.tanh())
    expect(g.nodeCount).toBeGreaterThan(1e5)
    const b = { x: [0.3, -1.2, 2, 0.1], y: [1, 2, 3, -1] }
    const got = await createCpuEngine({ compileAfter: 0 }).evaluate(g, b)
    const want = evaluateCpu(g, b)
    expect(got.values).toEqual(want.values)
    expect(got.jacobian).toEqual(want.jacobian)
  })
})

/** A batch of x (float64), y (float32) and a broadcast number a. */
const big = (size: number, seed: number) => {
  const r = rng(seed)
  return { x: Float64Array.from({ length: size }, () => r() * 4 - 2), y: Float32Array.from({ length: size }, () => r() * 4 - 2), a: 0.75 }
}

describe('CPU engine on worker threads', () => {
  const graph = () => parse('u = a * sin(x) * tanh(y) + x^2\nv = sigmoid(u - y) * cos(x * y)')

  test('a batch split over 3 threads equals the reference to the last bit, weights and parameter sums included', async () => {
    const cpu = createCpuEngine({ threads: 3, compileAfter: 0 })
    try {
      const g = graph()
      // Odd sizes: the last thread gets a shorter range.
      for (const size of [3 * MIN_PER_THREAD + 1, 7 * MIN_PER_THREAD + 5]) {
        const b = big(size, size)
        const got = await cpu.evaluate(g, b)
        expect(got.backend).toMatch(/^cpu-js .*, 3 threads$/)
        const want = evaluateCpu(g, b)
        expect(got.values).toEqual(want.values)
        expect(got.jacobian).toEqual(want.jacobian)
      }
      const p = new Graph()
      const w = p.param('w')
      p.output('loss', p.input('x').mul(w).sub(p.input('y')).pow(2))
      const b = { ...big(5 * MIN_PER_THREAD, 9), w: 0.5 }
      const weights = Float64Array.from({ length: b.x.length }, (_, i) => (i % 3) / 2)
      const got = await cpu.evaluate(p, { x: b.x, y: b.y, w: b.w }, { weights })
      expect(got.backend).toMatch(/3 threads$/)
      expect(got.gradients).toEqual(evaluateCpu(p, { x: b.x, y: b.y, w: b.w }, { weights }).gradients)
    } finally {
      cpu.destroy()
    }
  })

  test('small batches, custom ops and threads: 1 stay on the calling thread; bad thread counts are rejected', async () => {
    const cpu = createCpuEngine({ threads: 2, compileAfter: 0 })
    try {
      const small = await cpu.evaluate(graph(), big(MIN_PER_THREAD, 1))
      expect(small.backend).not.toMatch(/threads/)
      const one = createCpuEngine({ threads: 1, compileAfter: 0 })
      expect((await one.evaluate(graph(), big(8 * MIN_PER_THREAD, 2))).backend).not.toMatch(/threads/)
      // A custom op exists on this thread only.
      const cube = registerOp('cputhreadscube', { arity: 1, eval: (a) => a * a * a, wgsl: ([a]) => `(${a} * ${a} * ${a})`, derivatives: [([a]) => a!.mul(a!).mul(3)] })
      const g = new Graph()
      g.output('f', cube(g.input('x')))
      const x = Float64Array.from({ length: 4 * MIN_PER_THREAD }, (_, i) => i / 1000)
      const r = await cpu.evaluate(g, { x })
      expect(r.backend).not.toMatch(/threads/)
      expect(r.values.f![2000]).toBeCloseTo(8, 12)
    } finally {
      cpu.destroy()
    }
    for (const threads of [0, 1.5, -1, Number.NaN]) expect(() => createCpuEngine({ threads })).toThrow(BindingError)
    for (const compileAfter of [-1, 0.5, Number.POSITIVE_INFINITY]) expect(() => createCpuEngine({ compileAfter })).toThrow(BindingError)
  })

  test("output 'float32': each float64 result rounded once, on the calling thread and over threads alike", async () => {
    const g = graph()
    for (const threads of [1, 3]) {
      const cpu = createCpuEngine({ threads, compileAfter: 0, output: 'float32' })
      try {
        const b = big(4 * MIN_PER_THREAD + 3, threads)
        const got = await cpu.evaluate(g, b)
        expect(got.backend).toMatch(threads === 1 ? /float32 results\)$/ : /float32 results\), 3 threads$/)
        const want = evaluateCpu(g, b)
        for (const out of g.outputs) {
          expect(got.values[out]).toBeInstanceOf(Float32Array)
          expect(Array.from(got.values[out]!)).toEqual(Array.from(want.values[out]!, Math.fround))
          for (const input of ['x', 'y']) expect(Array.from(got.jacobian[out]![input]!)).toEqual(Array.from(want.jacobian[out]![input]!, Math.fround))
        }
      } finally {
        cpu.destroy()
      }
    }
    expect(() => createCpuEngine({ output: 'float16' as 'float32' })).toThrow(/output must be 'float64' or 'float32'/)
  })

  test('default threads: both ways are measured (threads, then the calling thread alone), then the faster runs; the numbers never change', async () => {
    const cpu = createCpuEngine({ compileAfter: 0 })
    try {
      const g = graph()
      const b = big(4 * MIN_PER_THREAD, 5)
      const want = evaluateCpu(g, b)
      const threaded: boolean[] = []
      for (let i = 0; i < 4; i++) {
        const got = await cpu.evaluate(g, b)
        threaded.push(/threads$/.test(got.backend))
        expect(got.values).toEqual(want.values)
        expect(got.jacobian).toEqual(want.jacobian)
      }
      if ((await defaultThreads()) > 1) expect(threaded.slice(0, 2)).toEqual([true, false])
      else expect(threaded).toEqual([false, false, false, false])
    } finally {
      cpu.destroy()
    }
  })

  test('destroy stops the threads; later runs compute on the calling thread with the same numbers', async () => {
    const cpu = createCpuEngine({ threads: 2, compileAfter: 0 })
    const g = graph()
    const b = big(4 * MIN_PER_THREAD, 3)
    expect((await cpu.evaluate(g, b)).backend).toMatch(/2 threads$/)
    cpu.destroy()
    const after = await cpu.evaluate(g, b)
    expect(after.backend).not.toMatch(/threads/)
    expect(after.values).toEqual(evaluateCpu(g, b).values)
  })
})

describe('CPU engine warm-up: the reference engine runs a graph until compiled code pays off', () => {
  test('the first compileAfter bindings of a graph run on the reference engine, later ones compiled: same numbers', async () => {
    const cpu = createCpuEngine({ compileAfter: 1000, threads: 1 })
    const p = new Graph()
    const w = p.param('w')
    p.output('loss', p.input('x').mul(w).sin().sub(p.input('y')).pow(2))
    const r = rng(3)
    const b = { x: Float64Array.from({ length: 600 }, () => r() * 4 - 2), y: Float64Array.from({ length: 600 }, () => r()), w: 0.7 }
    const weights = Float64Array.from({ length: 600 }, (_, i) => (i % 5) / 4)
    const want = evaluateCpu(p, b, { weights })
    const kernel = cpu.compile(p)
    const first = await kernel.run(b, { weights })
    expect(first.backend).toMatch(/^cpu-js .*reference engine/)
    // 600 + 600 bindings reach 1000: the second run is compiled.
    const second = await kernel.run(b, { weights })
    expect(second.backend).toBe(cpu.description)
    for (const got of [first, second]) {
      expect(got.values).toEqual(want.values)
      expect(got.jacobian).toEqual(want.jacobian)
      expect(got.gradients).toEqual(want.gradients)
    }
    // On worker threads too (parameters travel as plain inputs; their rows are summed here).
    const threaded = createCpuEngine({ threads: 2 })
    try {
      const n = 3 * MIN_PER_THREAD + 7
      const tb = { x: Float64Array.from({ length: n }, () => r() * 4 - 2), y: Float64Array.from({ length: n }, () => r()), w: 0.7 }
      const tw = Float64Array.from({ length: n }, (_, i) => (i % 7) / 6)
      const got = await threaded.evaluate(p, tb, { weights: tw })
      expect(got.backend).toMatch(/, 2 threads; this run on the reference engine/)
      const ref = evaluateCpu(p, tb, { weights: tw })
      expect(got.values).toEqual(ref.values)
      expect(got.jacobian).toEqual(ref.jacobian)
      expect(got.gradients).toEqual(ref.gradients)
    } finally {
      threaded.destroy()
    }
    // The default: a small batch of a new graph runs on the reference engine, a big one compiled.
    expect(COMPILE_AFTER).toBe(2 ** 15)
    const big = createCpuEngine({ threads: 1 })
    expect((await big.evaluate(p, b)).backend).toMatch(/reference engine/)
    const many = { x: new Float64Array(COMPILE_AFTER).fill(0.5), y: 0.25, w: 0.7 }
    expect((await big.evaluate(p, many)).backend).toBe(big.description)
  })
})

describe('createEngine: backends, fallback, and the auto engine without WebGPU', () => {
  test("backend 'gpu' without an adapter: fallback 'cpu' gives the CPU engine and says so in every result", async () => {
    const engine = await createEngine({ backend: 'gpu', gpu: noAdapter, fallback: 'cpu' })
    expect(engine.kind).toBe('cpu')
    expect(engine.description).toMatch(/^cpu-js .*no WebGPU: no WebGPU adapter found/)
    const r = await engine.evaluate(parse('f = x*y'), { x: [2], y: [3] })
    expect(r.backend.startsWith(engine.description)).toBe(true)
    expect(Array.from(r.jacobian.f!.x!)).toEqual([3])
  })

  test("backend 'gpu' without an adapter and without a fallback: DeviceError naming the driver install command", async () => {
    const err = await createEngine({ backend: 'gpu', gpu: noAdapter }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(DeviceError)
    expect((err as Error).message).toMatch(/install-driver\.sh/)
    await expect(createEngine({ backend: 'tpu' as 'gpu' })).rejects.toThrow(/backend must be 'auto', 'gpu' or 'cpu', got the string "tpu"/)
  })

  test('the default (auto) without an adapter runs everything on the CPU engine, float32 results equal to the rounded float64 reference, and says why', async () => {
    const engine = await createEngine({ gpu: noAdapter })
    try {
      expect(engine.kind).toBe('auto')
      expect(engine.gpu).toBeUndefined()
      expect(engine.gpuError).toBeInstanceOf(DeviceError)
      expect(engine.gpuError!.message).toMatch(/install-driver\.sh/)
      expect(engine.calibration.gpu).toBeUndefined()
      const g = parse('u = a * sin(x) * tanh(y) + x^2\nv = sigmoid(u - y) * cos(x * y)')
      for (const size of [5, 3 * MIN_PER_THREAD + 3]) {
        const b = big(size, size)
        const why = engine.explain(g, size)
        expect(why.backend).toBe('cpu')
        expect(why.why).toMatch(size < 256 ? /under 256/ : /no WebGPU device/)
        const got = await engine.evaluate(g, b)
        expect(got.backend).toMatch(/^cpu-js .*float32 results/)
        const want = evaluateCpu(g, b)
        for (const out of g.outputs) {
          expect(got.values[out]).toBeInstanceOf(Float32Array)
          expect(Array.from(got.values[out]!)).toEqual(Array.from(want.values[out]!, Math.fround))
          for (const input of g.inputs) expect(Array.from(got.jacobian[out]![input]!)).toEqual(Array.from(want.jacobian[out]![input]!, Math.fround))
        }
      }
      await expect(engine.evaluate(g, big(8, 1), { backend: 'gpu' })).rejects.toThrow(DeviceError)
      await expect(engine.evaluate(g, big(8, 1), { backend: 'fpga' as 'gpu' })).rejects.toThrow(/backend must be 'gpu' or 'cpu'/)
      expect(() => engine.explain(g, -1)).toThrow(BindingError)
      // Bad bindings: the CPU engine's own check names what is wrong.
      await expect(engine.evaluate(g, { x: { length: 2.5 } as unknown as number[], y: [1], a: 1 })).rejects.toThrow(/binding 'x' must be an array/)
      await expect(engine.evaluate(g, { x: [1, 2], y: [1], a: 1 })).rejects.toThrow(/unequal lengths/)
    } finally {
      engine.destroy()
    }
  })
})
