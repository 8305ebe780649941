/**
 * fn: graphs traced from functions. Values and Jacobians are checked against hand-derived formulas
 * and against the same program parsed from text (evaluateCpu, float64); names, order and errors
 * against what the docs promise.
 */
import { describe, expect, test } from 'vitest'
import { createCpuEngine, evaluateCpu, fn, GraphError, parse, sin } from '../../src/index.js'

const xs = [-1.5, 0, 0.25, 2]
const ys = [0.5, -1, 3, 1]

describe('fn', () => {
  test('names given as a list: Rosenbrock and its hand-derived gradient', async () => {
    const f = fn(['x', 'y'], (x, y) => x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)))
    expect(f.inputs).toEqual(['x', 'y'])
    expect(f.outputs).toEqual(['out'])
    const r = await f.valueAndJacobian({ x: xs, y: ys }, { engine: createCpuEngine({ threads: 1 }) })
    xs.forEach((x, b) => {
      const y = ys[b]!
      expect(r.values.out[b]).toBeCloseTo((1 - x) ** 2 + 100 * (y - x * x) ** 2, 12)
      // ∂f/∂x = -2(1-x) - 400x(y-x²);  ∂f/∂y = 200(y-x²)
      expect(r.jacobian.out.x[b]).toBeCloseTo(-2 * (1 - x) - 400 * x * (y - x * x), 10)
      expect(r.jacobian.out.y[b]).toBeCloseTo(200 * (y - x * x), 10)
    })
  })

  test('names read from the parameter list; named outputs; the same numbers as the parsed program', async () => {
    const f = fn(function (x, /* a comment */ y) {
      return { f: sin(x.mul(y)), g: x.div(y.add(3)) }
    })
    expect(f.inputs).toEqual(['x', 'y'])
    expect(f.outputs).toEqual(['f', 'g'])
    const r = await f.valueAndJacobian({ x: xs, y: ys }, { engine: createCpuEngine({ threads: 1 }) })
    const ref = evaluateCpu(parse('f = sin(x*y); g = x/(y+3)'), { x: xs, y: ys })
    for (const o of ['f', 'g'] as const) {
      expect(Array.from(r.values[o])).toEqual(Array.from(ref.values[o]!))
      for (const i of ['x', 'y'] as const) expect(Array.from(r.jacobian[o][i]!)).toEqual(Array.from(ref.jacobian[o]![i]!))
    }
    expect(fn((x) => x.mul(2)).inputs).toEqual(['x'])
    expect(fn((a, b) => a.add(b)).inputs).toEqual(['a', 'b'])
    // As `new Function` writes it: the names on one line, the body on others.
    expect(fn(new Function('u', 'v', 'return u.mul(v)') as never).inputs).toEqual(['u', 'v'])
  })

  test('parameters: placeholders in the declared order, gradients summed over the batch', async () => {
    const model = fn({ inputs: ['x', 'y'], params: ['a', 'b'] }, (x, y, a, b) => ({ loss: a.mul(x).add(b).sub(y).pow(2) }))
    expect(model.inputs).toEqual(['x', 'y', 'a', 'b'])
    expect(model.params).toEqual(['a', 'b'])
    const r = await model.valueAndJacobian({ x: xs, y: ys, a: 0.5, b: -1 }, { engine: createCpuEngine({ threads: 1 }) })
    // d/da (a x + b - y)² = 2(a x + b - y) x;  d/db = 2(a x + b - y)
    const res = xs.map((x, i) => 0.5 * x - 1 - ys[i]!)
    expect(r.gradients!.loss.a).toBeCloseTo(res.reduce((s, e, i) => s + 2 * e * xs[i]!, 0), 12)
    expect(r.gradients!.loss.b).toBeCloseTo(res.reduce((s, e) => s + 2 * e, 0), 12)
    expect(Object.keys(r.jacobian.loss)).toEqual(['x', 'y'])

    const read = fn((w, x) => w.mul(x), { params: ['w'] })
    expect(read.inputs).toEqual(['w', 'x'])
    expect(read.params).toEqual(['w'])
  })

  test('value(): values only', async () => {
    const f = fn(['x'], (x) => ({ sq: x.mul(x), k: 3 }))
    const v = await f.value({ x: [2, 3] }, { engine: createCpuEngine({ threads: 1 }) })
    expect(Array.from(v.sq)).toEqual([4, 9])
    expect(Array.from(v.k)).toEqual([3, 3])
  })

  test.each([
    ['destructured parameters', () => fn((({ x }: { x: never }) => x) as never), /could not read input names/],
    ['default values', () => fn((x, y = 2 as never) => x.mul(y)), /could not read input names/],
    ['a name given twice', () => fn(['x', 'x'], (x) => x), /'x' is given twice/],
    ['a parameter that is not a parameter of the function', () => fn((x) => x, { params: ['w'] }), /parameter 'w' is not one of/],
    ['a bad name', () => fn(['x-1'], (x) => x), /not an identifier/],
    ['a returned string', () => fn(['x'], () => 'x' as never), /must return an Expr/],
    ['an output that is not an Expr', () => fn(['x'], (x) => ({ f: x, g: [x] as never })), /output 'g' is an array/],
    ['no outputs', () => fn(['x'], () => ({})), /no outputs/],
    ['an async function', () => fn((async (x: never) => x) as never), /returned a Promise/],
    ['a bound function (its source is native code)', () => fn(((x: never) => x).bind(null) as never), /could not read input names/],
    ['names after the function', () => fn(((x: never) => x) as never, ['x'] as never), /give the names first/],
    ['no function', () => fn(['x'], undefined as never), /must be the function to trace/],
  ])('%s is a GraphError', (_, call, message) => {
    expect(call).toThrow(GraphError)
    expect(call).toThrow(message)
  })
})
