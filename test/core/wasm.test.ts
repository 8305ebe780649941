/**
 * The CPU engine's WebAssembly SIMD kernels (codegen/wasm.ts): for every op they take, on the values
 * where JavaScript semantics are particular (±0, NaN, ±Infinity, ties), every input kind (float32,
 * float64, plain arrays, broadcast numbers) and both result types, and on random arithmetic DAGs, the
 * numbers equal the float64 reference's to the last bit — the reference rounded once for float32
 * results. Graphs with an op wasm has no instruction for stay on generated JavaScript.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { createCpuEngine, evaluateCpu, Graph, parse, programOf, type Expr } from '../../src/index.js'
import { compileProgram, emitWasm, WASM_OPS, wasmComputes } from '../../src/codegen/wasm.js'
import { rng } from './helpers.js'

const SPECIAL = [0, -0, 1, -1, 0.5, -2.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 3e38, -1e-300, 7]

/** Every (a, b, c) triple of SPECIAL values, as columns, then random values up to `size` bindings. */
function columns(size: number, seed: number): [Float64Array, Float64Array, Float64Array] {
  const r = rng(seed)
  const n = SPECIAL.length
  const cols = [new Float64Array(size), new Float64Array(size), new Float64Array(size)] as [Float64Array, Float64Array, Float64Array]
  for (let i = 0; i < size; i++) {
    if (i < n * n * n) {
      cols[0][i] = SPECIAL[i % n]!
      cols[1][i] = SPECIAL[Math.floor(i / n) % n]!
      cols[2][i] = SPECIAL[Math.floor(i / (n * n)) % n]!
    } else for (const c of cols) c[i] = r() < 0.2 ? Math.round(r() * 4 - 2) : r() * 8 - 4
  }
  return cols
}

/** Asserts rows equal the reference's bit for bit (Object.is: −0 and NaN included), rounded once for float32 rows. */
function expectExact(got: readonly (Float64Array | Float32Array)[], want: readonly Float64Array[], where: string): void {
  got.forEach((row, r) => {
    const round = row instanceof Float32Array ? Math.fround : (x: number) => x
    for (let i = 0; i < row.length; i++) {
      if (!Object.is(row[i], round(want[r]![i]!))) expect.fail(`${where}: row ${r}, binding ${i}: got ${row[i]}, want ${round(want[r]![i]!)}`)
    }
  })
}

/** The program's rows on the reference engine. */
function reference(g: Graph, inputs: readonly (ArrayLike<number> | number)[], size: number): Float64Array[] {
  const program = programOf(g)
  const r = evaluateCpu(g, Object.fromEntries(g.inputs.map((name, k) => [name, inputs[k]!])))
  return program.rows.map((row) => Float64Array.from(row.kind === 'value' ? r.values[row.output]! : r.jacobian[row.output]![row.input!]!, (x) => x).subarray(0, size))
}

describe('WebAssembly SIMD kernels', () => {
  const ops = [...WASM_OPS].filter((op) => op !== 'pow')
  test.each(ops)('%s: every special pair and triple, every input kind, both result types, exact', (op) => {
    const g = new Graph()
    const inputs = ['a', 'b', 'c'].map((n) => g.input(n))
    const arity = op === 'neg' || op === 'sqrt' || op === 'abs' || op === 'relu' ? 1 : op === 'where' || op === 'gmadd' ? 3 : 2
    g.output('f', g.apply(op as 'add', inputs.slice(0, arity)))
    // Unused inputs still count: the program reads every input.
    const program = programOf(g)
    expect(wasmComputes(program)).toBe(true)
    const run = emitWasm(program)!
    expect(run).toBeDefined()
    // Sizes around the kernel's block of 2,048 and odd ones (the last pair reads one past the end).
    for (const size of [1, 7, SPECIAL.length ** 3, 2047, 2049, 4099]) {
      const [a, b, c] = columns(size, size)
      const kinds: (readonly (ArrayLike<number> | number)[])[] = [
        [a, b, c],
        [Float32Array.from(a), Float32Array.from(b), Float32Array.from(c)],
        [Array.from(a), 0.5, Float32Array.from(c)],
        [-0, Float32Array.from(b), Number.NaN],
      ]
      for (const src of kinds) {
        const want = reference(g, src.map((s) => (typeof s === 'number' ? s : Float64Array.from(s))), size)
        for (const Row of [Float64Array, Float32Array]) {
          const rows = program.rows.map(() => new Row(size))
          run(src, rows, 0, size)
          expectExact(rows, want, `${op}, ${size} bindings, ${src.map((s) => (typeof s === 'number' ? String(s) : s.constructor.name)).join('/')} -> ${Row.name}`)
        }
      }
    }
  })

  test('pow with the constant exponent 2 is x·x (exact); any other pow, and transcendentals, stay on generated JavaScript', () => {
    const square = programOf(parse('f = x^2 + (x - y)^2'))
    expect(wasmComputes(square)).toBe(true)
    const [x, y] = columns(1000, 3)
    const rows = square.rows.map(() => new Float64Array(1000))
    emitWasm(square)!([x, y], rows, 0, 1000)
    expectExact(rows, reference(parse('f = x^2 + (x - y)^2'), [x, y], 1000), 'x^2')
    // Arithmetic, but 200 outputs × 200 inputs: 40,200 rows would need a 600 MiB block.
    const wide = new Graph()
    const xs = Array.from({ length: 200 }, (_, i) => wide.input(`x${i}`))
    xs.forEach((x, i) => wide.output(`f${i}`, x.mul(i + 1)))
    expect(wasmComputes(programOf(wide))).toBe(false)
    for (const src of ['f = x^3', 'f = x^y', 'f = sin(x) + y', 'f = exp(x)', 'f = tanh(x) * y']) {
      const p = programOf(parse(src))
      expect(wasmComputes(p), src).toBe(false)
      expect(emitWasm(p)).toBeUndefined()
      expect(compileProgram(p).wasm).toBe(false)
    }
  })

  test('random arithmetic DAGs (value and full Jacobian) equal the reference to the last bit, on ranges that start mid-batch', () => {
    const OPS = ['add', 'sub', 'mul', 'div', 'min', 'max', 'neg', 'abs', 'sqrt', 'relu', 'square', 'where', 'lt'] as const
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.nat(OPS.length - 1), a: fc.nat(), b: fc.nat(), c: fc.nat() }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.nat(),
        (steps, size, seed) => {
          const g = new Graph()
          const pool: Expr[] = [g.input('x'), g.input('y')]
          for (const s of steps) {
            const [a, b, c] = [pool[s.a % pool.length]!, pool[s.b % pool.length]!, pool[s.c % pool.length]!]
            const op = OPS[s.op]!
            pool.push(op === 'square' ? a.pow(2) : op === 'where' ? a.lt(b).where(b, c) : op === 'neg' || op === 'abs' || op === 'sqrt' || op === 'relu' ? a[op]() : (a[op] as (b: Expr) => Expr)(b))
          }
          g.output('f', pool[pool.length - 1]!)
          g.output('g', pool[Math.floor(pool.length / 2)]!.mul(pool[pool.length - 1]!))
          const program = programOf(g)
          const run = emitWasm(program)
          expect(run).toBeDefined()
          const [x, y] = columns(size, seed)
          const from = Math.floor(size / 3)
          const rows = program.rows.map(() => new Float32Array(size))
          run!([Float32Array.from(x), y], rows, from, size - from)
          const wantF32 = reference(g, [Float32Array.from(x), y], size)
          rows.forEach((row, r) => {
            for (let i = from; i < size; i++) if (!Object.is(row[i], Math.fround(wantF32[r]![i]!))) expect.fail(`row ${r}, binding ${i}: ${row[i]} vs ${Math.fround(wantF32[r]![i]!)}`)
            for (let i = 0; i < from; i++) expect(row[i]).toBe(0)
          })
        },
      ),
      { numRuns: 60 },
    )
  })

  test("the CPU engine runs an arithmetic graph on its wasm kernel (its backend says so), over threads too, with the reference's numbers", async () => {
    const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
    const [x, y] = columns(20000, 9)
    for (const threads of [1, 2]) {
      const cpu = createCpuEngine({ threads, compileAfter: 1 << 20 })
      try {
        const kernel = cpu.compile(g)
        expect(kernel.wasm).toBe(true)
        const got = await kernel.run({ x, y })
        // A wasm kernel needs no warm-up on the reference engine.
        expect(got.backend).toMatch(threads === 1 ? /WebAssembly SIMD$/ : /WebAssembly SIMD, 2 threads$/)
        const want = evaluateCpu(g, { x, y })
        expect(got.values).toEqual(want.values)
        expect(got.jacobian).toEqual(want.jacobian)
      } finally {
        cpu.destroy()
      }
    }
    expect(createCpuEngine().compile(parse('f = sin(x)')).wasm).toBe(false)
  })

  test('wasm and generated JavaScript are timed against each other on big batches: wasm first, then JavaScript, the same numbers', async () => {
    const g = parse('e = (a*4 + 3)*(a + 2)')
    const [a] = columns(10000, 4)
    const cpu = createCpuEngine({ threads: 1 })
    try {
      const kernel = cpu.compile(g)
      const want = evaluateCpu(g, { a })
      const backends: string[] = []
      for (let i = 0; i < 3; i++) {
        const got = await kernel.run({ a })
        backends.push(got.backend)
        expect(got.values).toEqual(want.values)
        expect(got.jacobian).toEqual(want.jacobian)
      }
      expect(backends[0]).toMatch(/WebAssembly SIMD$/)
      expect(backends[1]).toBe(cpu.description)
      // Small batches run whichever was faster, without timing it.
      expect((await kernel.run({ a: a.subarray(0, 10) })).values.e).toEqual(want.values.e!.subarray(0, 10))
    } finally {
      cpu.destroy()
    }
  })
})
