/**
 * Parameters on the CPU engines: gradients are the per-binding ∂output/∂param (from a twin graph in
 * which the parameter is an ordinary input) summed over the batch, weighted, with a zero weight
 * dropping its binding; bad declarations and bindings are named errors.
 */
import { describe, expect, test } from 'vitest'
import { BindingError, createCpuEngine, evaluateCpu, Graph, GraphError, type Expr } from '../../src/index.js'
import { rng } from './helpers.js'

/** The model with a, b as parameters (or as ordinary inputs: the twin that gives per-binding rows). */
function model(asParams: boolean): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  const p = (n: string): Expr => (asParams ? g.param(n) : g.input(n))
  const a = p('a')
  const b = p('b')
  g.output('loss', a.mul(x.mul(b).tanh()).sub(y).pow(2))
  g.output('m', a.mul(x).add(y.exp()))
  return g
}

const B = 257
const r = rng(1)
const x = Float64Array.from({ length: B }, () => 4 * r() - 2)
const y = Float64Array.from({ length: B }, () => 2 * r() - 1)
const w = Float64Array.from({ length: B }, () => r())

/** Σ_b w_b row[b], the expected sum, from the twin graph. */
function expectedSums(weights?: ArrayLike<number>): Record<string, Record<string, number>> {
  const twin = evaluateCpu(model(false), { x, y, a: new Float64Array(B).fill(0.8), b: new Float64Array(B).fill(1.7) })
  const out: Record<string, Record<string, number>> = {}
  for (const o of ['loss', 'm']) {
    out[o] = {}
    for (const p of ['a', 'b']) {
      let s = 0
      for (let i = 0; i < B; i++) s += (weights ? weights[i]! : 1) * twin.jacobian[o]![p]![i]!
      out[o]![p] = s
    }
  }
  return out
}

describe('parameters (CPU engines)', () => {
  test('Graph.param: listed in params and inputs; the same name twice is the same node', () => {
    const g = model(true)
    expect(g.params).toEqual(['a', 'b'])
    expect(g.inputs).toEqual(['x', 'y', 'a', 'b'])
    expect(g.param('a').id).toBe(g.inputNode('a'))
    expect(g.isParam('x')).toBe(false)
    expect(() => g.param('x')).toThrow(GraphError)
    expect(() => g.param('x')).toThrow(/already an ordinary input/)
  })

  for (const [name, evaluate] of [
    ['evaluateCpu', async (g: Graph, b: Record<string, unknown>, o = {}) => evaluateCpu(g, b as never, o)],
    ['cpu engine', async (g: Graph, b: Record<string, unknown>, o = {}) => createCpuEngine({ compileAfter: 0 }).evaluate(g, b as never, o)],
  ] as const) {
    test(`${name}: gradients are the batch sums of the per-binding Jacobian, weighted or not`, async () => {
      const g = model(true)
      const plain = await evaluate(g, { x, y, a: 0.8, b: 1.7 })
      expect(Object.keys(plain.jacobian.loss!)).toEqual(['x', 'y'])
      const want = expectedSums()
      const weighted = await evaluate(g, { x, y, a: 0.8, b: 1.7 }, { weights: w })
      const wantW = expectedSums(w)
      for (const o of ['loss', 'm']) {
        for (const p of ['a', 'b']) {
          expect(plain.gradients![o]![p]).toBeCloseTo(want[o]![p]!, 9)
          expect(weighted.gradients![o]![p]).toBeCloseTo(wantW[o]![p]!, 9)
        }
      }
    })
  }

  test('a zero weight drops its binding even where the Jacobian is NaN', () => {
    const g = new Graph()
    const x = g.input('x')
    const a = g.param('a')
    g.output('f', a.mul(x.sqrt()))
    const xs = [4, -1, 9, 16]
    const r = evaluateCpu(g, { x: xs, a: 2 }, { weights: [1, 0, 0.5, 1] })
    // ∂f/∂a = √x: 2 + 0.5·3 + 4; √-1 = NaN is dropped by its weight 0.
    expect(r.gradients!.f!.a).toBe(7.5)
    expect(Number.isNaN(evaluateCpu(g, { x: xs, a: 2 }).gradients!.f!.a)).toBe(true)
  })

  test('bad bindings and weights are BindingErrors naming the problem', () => {
    const g = model(true)
    expect(() => evaluateCpu(g, { x, y, a: [1, 2], b: 1 })).toThrow(BindingError)
    expect(() => evaluateCpu(g, { x, y, a: [1, 2], b: 1 })).toThrow(/'a' is a parameter: bind it to one number/)
    expect(() => evaluateCpu(g, { x, y, a: 1, b: 1 }, { weights: [1, 2] })).toThrow(/weights has 2 elements; the batch has 257/)
    expect(() => evaluateCpu(g, { x, y, a: 1, b: 1 }, { weights: [...w.slice(1), '1'] as never })).toThrow(/weights\[256\] is the string "1", not a number/)
    const plain = new Graph()
    plain.output('f', plain.input('x').mul(2))
    expect(() => evaluateCpu(plain, { x: [1] }, { weights: [1] })).toThrow(/no parameters/)
  })
})

describe('parameters survive serialization', () => {
  test('graphToJSON marks them; graphFromJSON restores them; a bad flag is a GraphError', async () => {
    const { graphFromJSON, graphToJSON } = await import('../../src/index.js')
    const g = model(true)
    const j = graphToJSON(g)
    expect(j.nodes.filter((n) => 'param' in n).map((n) => (n as { name: string }).name)).toEqual(['a', 'b'])
    const back = graphFromJSON(JSON.parse(JSON.stringify(j)))
    expect(back.params).toEqual(['a', 'b'])
    expect(graphToJSON(back)).toEqual(j)
    expect(evaluateCpu(back, { x, y, a: 0.8, b: 1.7 }).gradients).toEqual(evaluateCpu(g, { x, y, a: 0.8, b: 1.7 }).gradients)
    const bad = JSON.parse(JSON.stringify(j))
    bad.nodes.find((n: { param?: unknown }) => n.param)!.param = 'yes'
    expect(() => graphFromJSON(bad)).toThrow(/param must be true/)
  })
})
