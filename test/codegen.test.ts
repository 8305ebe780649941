import { describe, expect, test } from 'vitest'
import { evaluateCpu, Graph, parse, planKernels, programOf, emitWgsl, type Graph as G } from '../src/index.js'
import { emitJs } from '../src/codegen/js.js'
import { kernelSources } from '../src/codegen/wgsl.js'
import { SHADERS } from '../src/codegen/shaders.gen.js'
import { execFileSync } from 'node:child_process'

const wgslOf = (g: G) => emitWgsl(planKernels(programOf(g)))
/** The kernel body only (helpers and bindings are pinned separately). */
const mainOf = (g: G) => {
  const w = wgslOf(g)
  return w.slice(w.indexOf('fn main'))
}

describe('WGSL codegen (pinned)', () => {
  test('seed example: names from the source, gather in registers', () => {
    expect(mainOf(parse('b = a*4; c = b+3; d = a+2; e = c*d'))).toMatchInlineSnapshot(`
      "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
        let b = gid.x + gid.y * params.row;
        if (b >= params.n) { return; }
        let s = params.stride;
        let v_a = inputs[0u * s + b * steps[0]];
        // one statement per node, in schedule order
        let v_b = (v_a * 4.0);
        let v_d = (v_a + 2.0);
        let v_c = (3.0 + v_b);
        let v_e = (v_d * v_c);
        results[0u * s + b] = v_e;
        let t9 = (v_d * 4.0);
        let t10 = (v_c + t9);
        results[1u * s + b] = t10;
      }
      "
    `)
  })

  test('shared node: y = x*x; z = y + y', () => {
    expect(mainOf(parse('y = x*x; z = y + y'))).toMatchInlineSnapshot(`
      "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
        let b = gid.x + gid.y * params.row;
        if (b >= params.n) { return; }
        let s = params.stride;
        let v_x = inputs[0u * s + b * steps[0]];
        // one statement per node, in schedule order
        let v_y = (v_x * v_x);
        let v_z = (v_y + v_y);
        results[0u * s + b] = v_z;
        let t6 = (2.0 * v_x);
        let t7 = (t6 + 2.0 * v_x);
        results[1u * s + b] = t7;
      }
      "
    `)
  })

  test('two outputs, a constant output and an unused input', () => {
    const g = new Graph()
    const x = g.input('x')
    g.input('u')
    g.output('s', x.sin())
    g.output('k', -2)
    expect(mainOf(g)).toMatchInlineSnapshot(`
      "fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
        let b = gid.x + gid.y * params.row;
        if (b >= params.n) { return; }
        let s = params.stride;
        let v_x = inputs[0u * s + b * steps[0]];
        let v_u = inputs[1u * s + b * steps[1]];
        results[2u * s + b] = bitcast<f32>(0x00000000u | params.pad);
        results[3u * s + b] = (-2.0);
        results[4u * s + b] = bitcast<f32>(0x00000000u | params.pad);
        results[5u * s + b] = bitcast<f32>(0x00000000u | params.pad);
        // one statement per node, in schedule order
        let t3 = wg_sincos(v_x).x;
        results[0u * s + b] = t3;
        let t4 = wg_sincos(v_x).y;
        results[1u * s + b] = t4;
      }
      "
    `)
  })

  test('layout header and helpers appear once, only when used', () => {
    const w = wgslOf(parse('f = erf(x) + erf(2*x) + max(x, 0)'))
    expect(w.match(/fn wg_erf/g)).toHaveLength(1)
    expect(w.match(/fn wg_max/g)).toHaveLength(1)
    expect(w).not.toContain('fn wg_pow')
    expect(w).toContain('@group(0) @binding(0) var<storage, read> inputs: array<f32>;')
    expect(w).toContain('@group(0) @binding(1) var<storage, read_write> results: array<f32>;')
  })

  test('a node with many consumers sums its adjoint in statements (one term each), not one deep expression', () => {
    const g = new Graph()
    const x = g.input('x')
    let acc = x.sin()
    for (let i = 1; i <= 40; i++) acc = acc.add(x.mul(x.add(i)))
    g.output('f', acc)
    const w = wgslOf(g)
    const lets = w.split('\n').filter((l) => /^ {2}let t\d+ = /.test(l))
    expect(lets.filter((l) => l.includes(' + ')).length).toBeGreaterThan(80)
    for (const l of lets) expect(l.length, l).toBeLessThan(200)
  })

  test('more than 16 inputs, rows or crossing values move in one loop each, over a private array', () => {
    const g = new Graph()
    const xs = Array.from({ length: 20 }, (_, i) => g.input(`x${i}`))
    g.output('f', xs.reduce((acc, x) => acc.add(x.sin())))
    const w = wgslOf(g)
    expect(w).toContain('const input_index = array<u32, 20>(0u, 1u, 2u,')
    expect(w).toContain('for (var j = 0u; j < 20u; j++) { let k = input_index[j]; input_values[j] = inputs[k * s + b * steps[k]]; }')
    expect(w).toContain('for (var j = 0u; j < 21u; j++) { results[j * s + b] = rows[j]; }')
    expect(w).not.toMatch(/results\[\d+u \* s/)
    // A layer of 40 values cut in two, the sum reading all: what crosses goes through the scratch in loops too.
    const h = new Graph()
    const ts = Array.from({ length: 40 }, (_, i) => h.input(`y${i}`).sin())
    h.output('f', ts.reduce((acc, t) => acc.add(t)))
    const kernels = kernelSources(planKernels(programOf(h, { jacobian: false }), { segmentCost: 1000 }))
    expect(kernels.length).toBeGreaterThan(1)
    expect(kernels.some((k) => /const scratch_out0 = array<u32, \d+>/.test(k.wgsl) && k.wgsl.includes('scratch[scratch_out0[j] * s + b] = later[j];'))).toBe(true)
    expect(kernels.some((k) => k.wgsl.includes('earlier[j] = scratch[scratch_in'))).toBe(true)
    // Below the threshold (and with loopAccesses: Infinity) every access is direct.
    expect(emitWgsl(planKernels(programOf(g), { loopAccesses: Infinity }))).not.toContain('for (var j')
  })

  test('negative constants are parenthesised (no `--` token)', () => {
    const w = wgslOf(parse('f = atan2(-0.5, x) - -2*x'))
    expect(w).not.toMatch(/--/)
  })

  test('shaders.gen.ts is in sync with shaders/*.wgsl', () => {
    execFileSync(process.execPath, ['scripts/gen-shaders.mjs', '--check'])
    expect(Object.keys(SHADERS).sort()).toEqual(['wg_atan2', 'wg_erf', 'wg_expm1', 'wg_log', 'wg_log1p', 'wg_max', 'wg_min', 'wg_pow', 'wg_sigmoid', 'wg_sincos', 'wg_sinh', 'wg_tan', 'wg_tanh'])
  })
})

describe('compiled JS (benchmark baseline) equals the reference', () => {
  test.each([
    ['f = (1-x)^2 + 100*(y-x^2)^2'],
    ['y2 = x*x; z = y2 + y2 + sin(y)'],
    ['f = where(x > 0, sqrt(x), 0) + max(x, y) * atan2(y, 2)'],
    ['a = tanh(x*0.3 - y); b = sigmoid(a*x + 1); f = a*b; g = log1p(b^2)'],
  ])('%s', (src) => {
    const g = parse(src)
    const plan = programOf(g)
    const B = 257
    const x = Float64Array.from({ length: B }, (_, i) => Math.sin(i) * 2)
    const y = Float64Array.from({ length: B }, (_, i) => Math.cos(i * 0.7) * 2)
    const bindings: Record<string, Float64Array> = { x, y }
    const inputs = g.inputs.map((n) => bindings[n]!)
    const rows = plan.rows.map(() => new Float64Array(B))
    emitJs(plan)(inputs, rows, 0, B)
    const ref = evaluateCpu(g, Object.fromEntries(g.inputs.map((n) => [n, bindings[n]!])))
    plan.rows.forEach((row, r) => {
      const want = row.kind === 'value' ? ref.values[row.output]! : ref.jacobian[row.output]![row.input!]!
      // Same formulas, same summation order: equal to the last bit.
      expect(Array.from(rows[r]!)).toEqual(Array.from(want))
    })
  })

  test('a 3000-node graph compiles into chunks and still equals the reference', () => {
    const g = new Graph()
    const x = g.input('x')
    let e = x
    for (let i = 0; i < 3000; i++) e = e.mul(0.999).add(e.sin().mul(0.001))
    g.output('f', e)
    const plan = programOf(g)
    const rows = plan.rows.map(() => new Float64Array(3))
    emitJs(plan)([[0.1, 0.5, -1]], rows, 0, 3)
    const ref = evaluateCpu(g, { x: [0.1, 0.5, -1] })
    expect(Array.from(rows[0]!)).toEqual(Array.from(ref.values.f!))
    expect(Array.from(rows[1]!)).toEqual(Array.from(ref.jacobian.f!.x!))
  })

  test('chunked code over several blocks of bindings, from an offset, with a number input and two outputs sharing partials', () => {
    const g = new Graph()
    const [x, y, a] = [g.input('x'), g.input('y'), g.input('a')]
    let e = x
    for (let i = 0; i < 600; i++) e = e.mul(a).add(e.sin().mul(y)).sub(e.mul(-0).tanh())
    g.output('f', e)
    g.output('h', e.mul(e.cos()))
    g.output('why', y)
    const plan = programOf(g)
    // 100 bindings from 37 on: blocks of 32, 32, 32 and 4, none starting at 0.
    const B = 137
    const xs = Float64Array.from({ length: B }, (_, i) => Math.sin(i) * 0.5)
    const ys = Float64Array.from({ length: B }, (_, i) => Math.cos(i * 0.3) * 0.01)
    const rows = plan.rows.map(() => new Float64Array(B).fill(7))
    emitJs(plan)([xs, ys, 0.999], rows, 37, 100)
    const ref = evaluateCpu(g, { x: xs.subarray(37), y: ys.subarray(37), a: 0.999 })
    plan.rows.forEach((row, r) => {
      const want = row.kind === 'value' ? ref.values[row.output]! : ref.jacobian[row.output]![row.input!]!
      expect(Array.from(rows[r]!.subarray(37)), `${row.kind} ${row.output} ${row.input ?? ''}`).toEqual(Array.from(want))
      // Nothing outside the range is touched.
      expect(rows[r]!.subarray(0, 37).every((v) => v === 7)).toBe(true)
    })
  })

  test('a node with 5,000 users: its adjoint is a chain of 5,000 statements over many chunks', () => {
    const g = new Graph()
    const x = g.input('x')
    let e = x.mul(1)
    for (let i = 0; i < 5000; i++) e = e.mul(0.9999).add(x.mul(1 + i * 1e-6))
    g.output('f', e)
    const plan = programOf(g)
    const rows = plan.rows.map(() => new Float64Array(2))
    emitJs(plan)([[0.5, 1]], rows, 0, 2)
    const ref = evaluateCpu(g, { x: [0.5, 1] })
    expect(Array.from(rows[0]!)).toEqual(Array.from(ref.values.f!))
    expect(Array.from(rows[1]!)).toEqual(Array.from(ref.jacobian.f!.x!))
  })
})
