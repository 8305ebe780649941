/**
 * Segmented plans: the cuts cover the program's schedule in order within the budget; every value a
 * kernel reads is computed in it (its range, or forward nodes of earlier kernels computed again) or
 * loaded from a scratch row, each row taken only while its value is still to be loaded; and
 * computing again keeps the scratch small.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Graph, parse, planKernels, programOf, type Expr, type Plan, type Program } from '../../src/index.js'
import { COST_BUDGET, HARDWARE_COST_BUDGET, predictCompileMs, predictPlanCompileMs, segmentCost } from '../../src/plan.js'
import { randomDag, SCALABLE_SHAPES } from '../../bench/shapes.js'
import { isSoftwareAdapter } from '../../src/gpu/device.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { buildSmoothDag, SMOOTH_COUNT } from './helpers.js'

/** Checks every invariant of a plan's segments and scratch against the program. */
function checkPlan(program: Program, plan: Plan, budget: number): void {
  const { graph, schedule } = program.levels
  const kernels = plan.kernels
  expect(kernels[0]!.start).toBe(0)
  expect(kernels.at(-1)!.end).toBe(schedule.length)
  kernels.forEach((k, s) => {
    if (s > 0) expect(k.start).toBe(kernels[s - 1]!.end)
    expect(k.end).toBeGreaterThan(k.start)
    let cost = 0
    let costly = 0
    for (let i = k.start; i < k.end; i++) {
      const c = segmentCost(graph.kind(schedule[i]!))
      cost += c
      if (c > 0) costly++
    }
    expect(k.cost).toBe(cost)
    // Over budget only when one node alone is (a helper op under a budget below 16).
    if (cost > budget) expect(costly === 1 || kernels.length === 1).toBe(true)
  })
  if (kernels.length === 1) {
    expect(plan.scratch).toBeUndefined()
    return
  }
  const scratch = plan.scratch!
  const seg = scratch.segment
  const isOp = (id: number) => graph.kind(id) !== 'input' && graph.kind(id) !== 'const'
  const lastLoader = new Map<number, number>()
  kernels.forEach((k, s) => {
    // Every argument of every statement (computed again, then the range) is an input, a constant,
    // computed earlier in this kernel, or loaded: a value of an earlier kernel with a scratch row.
    const here = new Set<number>()
    const loads = new Set(scratch.loads[s])
    for (const id of scratch.recompute[s]!) {
      expect(seg[id]!, `node ${id} computed again in kernel ${s}`).toBeLessThan(s)
      // Forward values and partials: never an adjoint (a gmadd of the sweeps).
      expect(id < program.forwardNodes || graph.kind(id) !== 'gmadd', `node ${id} (${graph.kind(id)}) computed again`).toBe(true)
    }
    const statements = [...scratch.recompute[s]!, ...Array.from(schedule.subarray(k.start, k.end))]
    for (const id of statements) {
      for (const a of graph.args(id)) {
        if (!isOp(a) || here.has(a)) continue
        expect(loads.has(a), `kernel ${s}: node ${id} reads ${a}, neither computed here nor loaded`).toBe(true)
      }
      here.add(id)
    }
    for (const id of loads) {
      expect(seg[id]!).toBeLessThan(s)
      expect(scratch.valueRow[id]!).toBeGreaterThanOrEqual(0)
      expect(scratch.valueRow[id]!).toBeLessThan(scratch.rows)
      lastLoader.set(id, Math.max(lastLoader.get(id) ?? -1, s))
    }
  })
  for (const id of schedule) expect(scratch.valueRow[id]! >= 0, `node ${id} has a row exactly when a kernel loads it`).toBe(lastLoader.has(id))
  // No two values hold one row at once: a row is taken again only after its last loader.
  kernels.forEach((_, s) => {
    const busy = new Map<number, number>()
    for (const [id, last] of lastLoader) {
      if (seg[id]! <= s && last >= s) {
        const row = scratch.valueRow[id]!
        expect(busy.has(row), `row ${row} in segment ${s}`).toBe(false)
        busy.set(row, id)
      }
    }
  })
}

describe('segmented plans', () => {
  test('a program within the budget is one kernel; the default budget is in force', () => {
    const plan = planKernels(programOf(parse('f = (1-x)^2 + 100*(y-x^2)^2')))
    expect(plan.kernels).toHaveLength(1)
    expect(plan.scratch).toBeUndefined()
    expect(kernelSources(plan)).toHaveLength(1)
    const big = new Graph()
    const x = big.input('x')
    let e = x
    for (let i = 0; i < COST_BUDGET / 2; i++) e = e.mul(x)
    big.output('f', e.add(1))
    // The program holds the chain and its reverse sweep (a gmadd for each of x's uses and for each
    // link's adjoint): about 1.5 times the budget.
    expect(planKernels(programOf(big)).kernels.length).toBeGreaterThanOrEqual(2)
    expect(planKernels(programOf(big), { segmentCost: Infinity }).kernels.length).toBe(1)
  })

  test('a node costs what its WGSL does: a helper op more than arithmetic', () => {
    expect(segmentCost('sin')).toBeGreaterThan(segmentCost('add'))
    expect(segmentCost('sin')).toBe(segmentCost('cos'))
    // tan calls wg_sincos and divides.
    expect(segmentCost('tan')).toBeGreaterThan(segmentCost('sin'))
    expect(segmentCost('add')).toBe(segmentCost('mul'))
    expect(segmentCost('input')).toBe(0)
    expect(segmentCost('const')).toBe(0)
  })

  test('the compile model: monotone; the default budget is about 1 s; a long program is cut into kernels of bounded predicted time whose sum grows linearly', () => {
    expect(predictCompileMs(2000)).toBeGreaterThan(predictCompileMs(1000))
    expect(predictCompileMs(1000, 100)).toBeGreaterThan(predictCompileMs(1000, 10))
    expect(predictCompileMs(COST_BUDGET)).toBeGreaterThan(800)
    expect(predictCompileMs(COST_BUDGET)).toBeLessThan(1200)
    const sinChain = (steps: number) => {
      const g = new Graph()
      const y = g.input('y')
      let c = g.input('x')
      for (let i = 0; i < steps; i++) c = c.add(c.add(y).sin().mul(1e-5))
      g.output('f', c)
      return planKernels(programOf(g))
    }
    const [short, long] = [sinChain(1000), sinChain(4000)]
    for (const plan of [short, long]) for (const k of plan.kernels) expect(k.cost).toBeLessThanOrEqual(COST_BUDGET)
    expect(long.kernels.length).toBeGreaterThan(short.kernels.length)
    const ratio = predictPlanCompileMs(long) / predictPlanCompileMs(short)
    expect(ratio).toBeGreaterThan(3)
    expect(ratio).toBeLessThan(5)
  })

  test("a segment's predicted compile counts what it computes again and moves: cut finer until each is within 1.5x the budget's time", () => {
    const program = programOf(randomDag(10_000, 1))
    const limit = 1.5 * predictCompileMs(COST_BUDGET)
    const unbounded = planKernels(program, { boundCompile: false })
    expect(Math.max(...unbounded.kernels.map((k) => k.predictedMs))).toBeGreaterThan(limit)
    const bounded = planKernels(program)
    expect(bounded.kernels.length).toBeGreaterThan(unbounded.kernels.length)
    for (const k of bounded.kernels) expect(k.predictedMs).toBeLessThanOrEqual(limit)
    // Each kernel's prediction is at least its range's alone.
    for (const k of bounded.kernels) expect(k.predictedMs).toBeGreaterThanOrEqual(predictCompileMs(k.cost))
  })

  test("every 1,000-node graph of SCALABLE_SHAPES is one fused kernel at the default budget (README, 'Segments')", () => {
    for (const shape of SCALABLE_SHAPES) expect(planKernels(programOf(shape.build(1000, 1))).kernels, shape.name).toHaveLength(1)
  })

  test('every cut, every scratch row, on random DAGs and budgets, Jacobian and values-only programs (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 80 }),
        fc.boolean(),
        (inputs, steps, outputs, budget, jacobian) => {
          const g = new Graph()
          const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
          const pool = buildSmoothDag(g, names, steps)
          outputs.forEach((o, k) => g.output(`o${k}`, pool[o % pool.length]!.expr))
          const program = programOf(g, { jacobian })
          const plan = planKernels(program, { segmentCost: budget })
          checkPlan(program, plan, budget)
          expect(kernelSources(plan).map((k) => k.segment)).toEqual(plan.kernels.map((_, s) => s))
        },
      ),
      { numRuns: 300, seed: 5 },
    )
  })

  test('the reverse sweeps compute forward values again from checkpoints instead of loading them all', () => {
    // The bench-like graph at a budget that cuts it into several kernels: without computing again,
    // ~600 forward values crossed the cuts; with it, only the checkpoints and the sweeps' frontier do.
    const g = new Graph()
    const pool: Expr[] = [g.input('x'), g.input('y')]
    for (let i = 0; i < 400; i++) {
      const a = pool[pool.length - 1]!
      const b = pool[Math.max(0, pool.length - 1 - (i % 7))]!
      pool.push(i % 3 ? a.mul(b.tanh()) : a.add(b).sin())
    }
    g.output('f', pool[pool.length - 1]!)
    const program = programOf(g)
    const plan = planKernels(program, { segmentCost: 1024 })
    checkPlan(program, plan, 1024)
    expect(plan.kernels.length).toBeGreaterThan(3)
    expect(plan.scratch!.recompute.some((r) => r.length > 0)).toBe(true)
    expect(plan.scratch!.rows).toBeLessThan(60)
  })

  test('scratch rows are reused: a long chain cut into many segments needs a few rows, not one per cut', () => {
    const g = new Graph()
    let e = g.input('x')
    for (let i = 0; i < 400; i++) e = e.mul(1.0001).add(e.mul(0.5))
    g.output('f', e)
    const program = programOf(g, { jacobian: false })
    const plan = planKernels(program, { segmentCost: 16 })
    checkPlan(program, plan, 16)
    expect(plan.kernels.length).toBeGreaterThan(40)
    // One value crosses most cuts, two where a cut falls inside a step; each row is busy for two segments.
    expect(plan.scratch!.rows).toBeLessThanOrEqual(4)
  })
})

describe('default segment budget by adapter', () => {
  const info = (fields: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }) => ({ vendor: '', architecture: '', device: '', description: '', ...fields }) as GPUAdapterInfo
  test('software adapters (bigger kernels) are told from GPUs by their adapter info', () => {
    // As Dawn reports lavapipe, and Chromium SwiftShader.
    expect(isSoftwareAdapter(info({ vendor: 'mesa', architecture: 'software', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' }))).toBe(true)
    expect(isSoftwareAdapter(info({ vendor: 'google', architecture: 'swiftshader' }))).toBe(true)
    expect(isSoftwareAdapter(info({ vendor: 'microsoft', description: 'Microsoft Basic Render Driver' }))).toBe(true)
    expect(isSoftwareAdapter(info({ isFallbackAdapter: true }))).toBe(true)
    // As Dawn reported the H100 this was measured on, and other GPUs.
    expect(isSoftwareAdapter(info({ vendor: 'nvidia', description: 'NVIDIA: 580.159.04 580.159.4.0' }))).toBe(false)
    expect(isSoftwareAdapter(info({ vendor: 'apple', architecture: 'metal-3' }))).toBe(false)
    expect(isSoftwareAdapter(info({ vendor: 'amd', architecture: 'rdna-3' }))).toBe(false)
    expect(isSoftwareAdapter(undefined)).toBe(false)
    expect(HARDWARE_COST_BUDGET).toBeLessThan(COST_BUDGET)
  })
})
