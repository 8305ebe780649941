/**
 * Segmented plans: the cuts cover the wavefronts in order within the budget, and the scratch holds
 * exactly what crosses a cut (values later segments read; partial adjoints later segments pass back).
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { Graph, levelize, parse, planKernels, type Levels, type Plan } from '../../src/index.js'
import { COST_BUDGET, HARDWARE_COST_BUDGET, segmentCost } from '../../src/plan.js'
import { isSoftwareAdapter } from '../../src/gpu/device.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { buildSmoothDag, SMOOTH_COUNT } from './helpers.js'

/** Checks every invariant of a plan's segments and scratch against the graph. */
function checkPlan(levels: Levels, plan: Plan, budget: number): void {
  const { graph, order } = levels
  const kernels = plan.kernels
  expect(kernels[0]!.start).toBe(0)
  expect(kernels.at(-1)!.end).toBe(order.length)
  kernels.forEach((k, s) => {
    if (s > 0) expect(k.start).toBe(kernels[s - 1]!.end)
    expect(k.end).toBeGreaterThan(k.start)
    let cost = 0
    let costly = 0
    for (let i = k.start; i < k.end; i++) {
      const c = segmentCost(graph.kind(order[i]!))
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
  const rows = new Set<number>()
  for (const id of order) {
    const kind = graph.kind(id)
    const laterReader = [...levels.consumers.subarray(levels.consumerStart[id]!, levels.consumerStart[id + 1]!)].some((u) => seg[u]! > seg[id]!)
    // A value row exactly for the op nodes a later segment reads.
    expect(scratch.valueRow[id]! >= 0).toBe(kind !== 'input' && kind !== 'const' && laterReader)
    if (scratch.valueRow[id]! >= 0) rows.add(scratch.valueRow[id]!)
    for (const a of graph.args(id)) expect(seg[a]!).toBeLessThanOrEqual(seg[id]!)
  }
  expect(rows.size).toBe(scratch.values)
  scratch.adjointRow.forEach((byNode, k) => {
    for (const [node, row] of byNode) {
      expect(row).toBeGreaterThanOrEqual(scratch.values)
      rows.add(row)
      // The first writer is the highest segment whose part of the sweep reaches the node.
      const step = scratch.schedules[k]!.find((st) => st.node === node)!
      const writers = step.users.filter((u) => scratch.defined[k]![u.user] && seg[u.user]! > seg[node]!).map((u) => seg[u.user]!)
      expect(writers.length).toBeGreaterThan(0)
      expect(scratch.firstWriter[k]!.get(node)).toBe(Math.max(...writers))
    }
  })
  expect(rows.size).toBe(scratch.rows)
}

describe('segmented plans', () => {
  test('a graph within the budget is one kernel; the default budget is in force', () => {
    const lv = levelize(parse('f = (1-x)^2 + 100*(y-x^2)^2'))
    const plan = planKernels(lv)
    expect(plan.kernels).toHaveLength(1)
    expect(plan.scratch).toBeUndefined()
    expect(kernelSources(lv, plan)).toHaveLength(1)
    const big = new Graph()
    let e = big.input('x')
    for (let i = 0; i < COST_BUDGET; i++) e = e.mul(1.0001)
    big.output('f', e.add(1))
    expect(planKernels(levelize(big)).kernels.length).toBe(2)
    expect(planKernels(levelize(big), { segmentCost: Infinity }).kernels.length).toBe(1)
  })

  test('a helper op costs more than arithmetic', () => {
    expect(segmentCost('sin')).toBeGreaterThan(segmentCost('add'))
    expect(segmentCost('input')).toBe(0)
    expect(segmentCost('const')).toBe(0)
  })

  test('every cut, every scratch row, on random DAGs and budgets (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 80 }),
        (inputs, steps, outputs, budget) => {
          const g = new Graph()
          const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
          const pool = buildSmoothDag(g, names, steps)
          outputs.forEach((o, k) => g.output(`o${k}`, pool[o % pool.length]!.expr))
          const lv = levelize(g)
          const plan = planKernels(lv, { segmentCost: budget })
          checkPlan(lv, plan, budget)
          // S segments: a forward kernel for each of the first S - 1 that stores a value, S reverse kernels.
          const sources = kernelSources(lv, plan)
          const storing = new Set(plan.scratch ? [...lv.order].filter((id) => plan.scratch!.valueRow[id]! >= 0).map((id) => plan.scratch!.segment[id]!) : [])
          expect(sources).toHaveLength(plan.kernels.length === 1 ? 1 : plan.kernels.length + storing.size)
          expect(sources.filter((k) => k.phase === 'reverse').map((k) => k.segment)).toEqual(plan.kernels.map((_, s) => s).reverse())
        },
      ),
      { numRuns: 300, seed: 5 },
    )
  })

  test('a wavefront wider than the budget is split between its nodes', () => {
    const g = new Graph()
    const x = g.input('x')
    let sum = g.constant(0)
    for (let i = 1; i <= 40; i++) sum = sum.add(x.mul(i).sin())
    g.output('f', sum)
    const lv = levelize(g)
    const plan = planKernels(lv, { segmentCost: 64 })
    checkPlan(lv, plan, 64)
    expect(plan.kernels.some((k) => k.firstLevel === k.lastLevel && k.nodes < lv.levelStart[k.firstLevel + 1]! - lv.levelStart[k.firstLevel]!)).toBe(true)
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
