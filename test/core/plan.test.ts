/**
 * Segmented plans: the cuts cover the program's schedule in order within the budget, and the
 * scratch holds exactly what crosses a cut (op values a later segment reads), each row taken only
 * while its value is still to be read.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Graph, parse, planKernels, programOf, type Plan, type Program } from '../../src/index.js'
import { COST_BUDGET, HARDWARE_COST_BUDGET, segmentCost } from '../../src/plan.js'
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
  // Per segment, the rows in use: written before it, still to be read in it or later.
  const lastReader = new Map<number, number>()
  for (const id of schedule) {
    for (const a of graph.args(id)) {
      expect(seg[a]!).toBeLessThanOrEqual(seg[id]!)
      if (isOp(a) && seg[a]! < seg[id]!) lastReader.set(a, Math.max(lastReader.get(a) ?? -1, seg[id]!))
    }
  }
  for (const id of schedule) {
    // A value row exactly for the op nodes a later segment reads.
    expect(scratch.valueRow[id]! >= 0, `node ${id}`).toBe(lastReader.has(id))
    if (scratch.valueRow[id]! >= 0) expect(scratch.valueRow[id]!).toBeLessThan(scratch.rows)
  }
  // No two values hold one row at once: a row is taken again only after its last reader.
  kernels.forEach((_, s) => {
    const busy = new Map<number, number>()
    for (const [id, last] of lastReader) {
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

  test('a helper op costs more than arithmetic', () => {
    expect(segmentCost('sin')).toBeGreaterThan(segmentCost('add'))
    expect(segmentCost('input')).toBe(0)
    expect(segmentCost('const')).toBe(0)
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
