/**
 * evaluateCpu at scale: a 10⁵-node chain with one binding, and a ~100-node graph with 10⁶ bindings.
 * Asserts correctness against closed forms, never time; the times are printed for the report.
 */
import { describe, expect, test } from 'vitest'
import { createCpuEngine, Graph, evaluateCpu, levelize, planKernels, programOf } from '../../src/index.js'
import { buildTape } from '../../src/codegen/interpreter.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { at, expectClose, rng, uniform } from './helpers.js'

describe('scale', () => {
  test('a 10⁵-node chain, B = 1', () => {
    // v ← c·v + 1, 5·10⁴ times: v_N = cᴺ·x + (cᴺ - 1)/(c - 1), dv_N/dx = cᴺ
    const c = 1.00001
    const pairs = 50_000
    const t0 = performance.now()
    const g = new Graph()
    const x = g.input('x')
    let v = x
    for (let i = 0; i < pairs; i++) v = v.mul(c).add(1)
    g.output('v', v)
    const t1 = performance.now()
    const r = evaluateCpu(g, { x: [0.5] })
    const t2 = performance.now()
    expect(levelize(g).depth).toBe(2 * pairs)
    const cN = Math.pow(c, pairs)
    expectClose(at(r.values.v, 0), cN * 0.5 + (cN - 1) / (c - 1), 1e-9, 'value')
    expectClose(at(r.jacobian.v?.x, 0), cN, 1e-9, 'dv/dx')
    console.log(`[scale] chain of ${g.nodeCount} nodes, B = 1: build ${(t1 - t0).toFixed(0)} ms, evaluateCpu ${(t2 - t1).toFixed(0)} ms`)
  })

  test('300 outputs × 300 inputs: 90,300 rows, most of them the one constant-0 node (compiled JS, tape, WGSL)', async () => {
    // Each output reads one input, so 89,700 Jacobian rows are the shared constant 0: building the
    // row lists per node must not copy them row by row (quadratic: it took a minute per backend).
    const g = new Graph()
    const xs = Array.from({ length: 300 }, (_, i) => g.input(`x${i}`))
    xs.forEach((x, i) => g.output(`f${i}`, x.sin()))
    const program = programOf(g)
    expect(program.rows).toHaveLength(300 * 301)
    expect(buildTape(program).instructions).toBeGreaterThan(90_000)
    expect(kernelSources(planKernels(program)).length).toBe(1)
    const b = Object.fromEntries(g.inputs.map((n, i) => [n, [i / 300, -i / 300]]))
    const r = await createCpuEngine({ compileAfter: 0, threads: 1 }).evaluate(g, b)
    expect(at(r.jacobian.f7?.x7, 1)).toBe(Math.cos(-7 / 300))
    expect(at(r.jacobian.f7?.x8, 0)).toBe(0)
  })

  test('a ~100-node graph, B = 10⁶', () => {
    // f = Σ_{j=1..11} sin(a_j x + y) · e^{-b_j x²}, a_j = j/8, b_j = j/100
    // ∂f/∂x = Σ [a_j cos(a_j x + y) - 2 b_j x sin(a_j x + y)] e^{-b_j x²}
    // ∂f/∂y = Σ cos(a_j x + y) e^{-b_j x²}
    const J = 11
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    const x2 = x.mul(x)
    let f = g.constant(0)
    for (let j = 1; j <= J; j++) f = f.add(x.mul(j / 8).add(y).sin().mul(x2.mul(-j / 100).exp()))
    g.output('f', f)
    const live = levelize(g).liveCount
    expect(live).toBeGreaterThan(90)
    expect(live).toBeLessThan(130)

    const B = 1_000_000
    const rand = rng(77)
    const xs = Float64Array.from({ length: B }, () => uniform(rand, -3, 3))
    const ys = Float64Array.from({ length: B }, () => uniform(rand, -3, 3))
    const t0 = performance.now()
    const r = evaluateCpu(g, { x: xs, y: ys })
    const t1 = performance.now()
    expect(r.size).toBe(B)

    let worst = 0
    for (let b = 0; b < B; b += 997) {
      const xb = xs[b]!
      const yb = ys[b]!
      let v = 0
      let dx = 0
      let dy = 0
      for (let j = 1; j <= J; j++) {
        const a = j / 8
        const e = Math.exp(-(j / 100) * xb * xb)
        const s = Math.sin(a * xb + yb)
        const co = Math.cos(a * xb + yb)
        v += s * e
        dx += (a * co - 2 * (j / 100) * xb * s) * e
        dy += co * e
      }
      for (const [got, want] of [[at(r.values.f, b), v], [at(r.jacobian.f?.x, b), dx], [at(r.jacobian.f?.y, b), dy]] as const) {
        worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)))
      }
    }
    for (const b of [0, 4095, 4096, B - 1]) expect(Number.isFinite(at(r.jacobian.f?.x, b))).toBe(true)
    expect(worst).toBeLessThan(1e-12)
    console.log(`[scale] ${live}-node graph, B = ${B}: evaluateCpu ${(t1 - t0).toFixed(0)} ms (${((B / (t1 - t0)) * 1000).toExponential(2)} bindings/s), max rel error ${worst.toExponential(1)}`)
  })
})
