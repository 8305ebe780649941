/**
 * The builder: inputs, hash-consing, constant folding and exact identities, validation, and the
 * free-function forms of the ops.
 */
import { describe, expect, test } from 'vitest'
import {
  Expr,
  Graph,
  GraphError,
  OP_NAMES,
  OPS,
  add,
  atan2,
  evaluateCpu,
  fns,
  mul,
  neg,
  sin,
  sub,
  where,
  type ExprLike,
} from '../../src/index.js'
import { at } from './helpers.js'

const isConst = (e: Expr, v: number) => {
  expect(e.kind).toBe('const')
  expect(e.graph.constValue(e.id)).toBe(v)
}

describe('inputs and outputs', () => {
  test('inputs come in order of first g.input; asking twice gives the same node', () => {
    const g = new Graph()
    const y = g.input('y')
    const x = g.input('x')
    const y2 = g.input('y')
    g.input('z')
    expect(g.inputs).toEqual(['y', 'x', 'z'])
    expect(y2.id).toBe(y.id)
    expect(x.id).not.toBe(y.id)
    expect(g.inputNode('x')).toBe(x.id)
    expect(g.kind(x.id)).toBe('input')
    expect(g.label(x.id)).toBe('x')
  })

  test('outputs come in order of definition; inputs/outputs are copies', () => {
    const g = new Graph()
    const x = g.input('x')
    g.output('b', x.sin())
    g.output('a', x.cos())
    expect(g.outputs).toEqual(['b', 'a'])
    const outs = g.outputs as string[]
    outs.push('zzz')
    expect(g.outputs).toEqual(['b', 'a'])
    expect(g.kind(g.outputNode('a'))).toBe('cos')
  })

  test('a node can be output under two names, and a number can be an output', () => {
    const g = new Graph()
    const x = g.input('x')
    const s = x.sin()
    g.output('p', s)
    g.output('q', s)
    g.output('k', 2.5)
    expect(g.outputNode('p')).toBe(g.outputNode('q'))
    expect(g.constValue(g.outputNode('k'))).toBe(2.5)
  })

  test('arguments precede the node that uses them (id order is topological)', () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    const e = x.mul(y).sin().add(x.div(y)).where(x, y)
    g.output('e', e)
    for (let id = 0; id < g.nodeCount; id++) for (const a of g.args(id)) expect(a).toBeLessThan(id)
  })

  test('version changes with every addition', () => {
    const g = new Graph()
    const v0 = g.version
    const x = g.input('x')
    const v1 = g.version
    expect(v1).toBeGreaterThan(v0)
    x.sin()
    const v2 = g.version
    expect(v2).toBeGreaterThan(v1)
    x.sin() // already there: no change
    expect(g.version).toBe(v2)
    g.output('f', x.sin())
    expect(g.version).toBeGreaterThan(v2)
  })
})

describe('hash-consing', () => {
  test('x*y and y*x are one node, as are x+y and y+x; x-y and y-x are not', () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    expect(x.mul(y).id).toBe(y.mul(x).id)
    expect(x.add(y).id).toBe(y.add(x).id)
    expect(x.eq(y).id).toBe(y.eq(x).id)
    expect(x.ne(y).id).toBe(y.ne(x).id)
    expect(x.sub(y).id).not.toBe(y.sub(x).id)
    expect(x.div(y).id).not.toBe(y.div(x).id)
    expect(x.pow(y).id).not.toBe(y.pow(x).id)
    expect(x.lt(y).id).not.toBe(y.lt(x).id)
    expect(x.min(y).id).not.toBe(y.min(x).id)
  })

  test('the same subexpression built twice is one node', () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    const build = () => x.mul(y).sin().add(x.exp().div(y.add(2))).pow(3)
    const before = build()
    const count = g.nodeCount
    const after = build()
    expect(after.id).toBe(before.id)
    expect(g.nodeCount).toBe(count)
  })

  test('equal constants are one node; 0 and -0 are two', () => {
    const g = new Graph()
    expect(g.constant(0.1 + 0.2).id).toBe(g.constant(0.30000000000000004).id)
    expect(g.constant(0.3).id).not.toBe(g.constant(0.30000000000000004).id)
    expect(g.constant(0).id).not.toBe(g.constant(-0).id)
    expect(Object.is(g.constValue(g.constant(-0).id), -0)).toBe(true)
  })
})

describe('constant folding and exact identities', () => {
  test('2 * 3 becomes the constant 6; folding goes through every op', () => {
    const g = new Graph()
    isConst(g.constant(2).mul(3), 6)
    isConst(g.apply('mul', [2, 3]), 6)
    isConst(g.constant(2).pow(10).sub(24), 1000)
    isConst(g.constant(0).where(1, 2), 2)
    isConst(g.constant(3).gt(2), 1)
    isConst(g.constant(-0.5).abs(), 0.5)
  })

  test('x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, x ^ 1 are x', () => {
    const g = new Graph()
    const x = g.input('x')
    for (const e of [x.add(0), g.constant(0).add(x), x.sub(0), x.mul(1), g.constant(1).mul(x), x.div(1), x.pow(1), x.add(-0)]) {
      expect(e.id).toBe(x.id)
    }
  })

  test('x ^ 0 is the constant 1; --x is x', () => {
    const g = new Graph()
    const x = g.input('x')
    isConst(x.pow(0), 1)
    expect(x.neg().neg().id).toBe(x.id)
    expect(x.neg().neg().neg().id).toBe(x.neg().id)
  })

  test('identities that are not exact are not applied', () => {
    const g = new Graph()
    const x = g.input('x')
    // x*0 is NaN for x = ∞, x - x is NaN for x = ∞, 0/x is NaN for x = 0
    expect(x.mul(0).kind).toBe('mul')
    expect(x.sub(x).kind).toBe('sub')
    expect(g.constant(0).div(x).kind).toBe('div')
    expect(g.constant(1).pow(x).kind).toBe('pow')
  })

  test('a fold with a non-finite result stays an op node', () => {
    const g = new Graph()
    const inf = g.constant(1).div(0)
    expect(inf.kind).toBe('div')
    expect(g.constant(-1).sqrt().kind).toBe('sqrt')
    expect(g.constant(0).log().kind).toBe('log')
    expect(g.constant(1e308).mul(10).kind).toBe('mul')
    // ... and evaluates to what IEEE says
    g.output('inf', inf)
    g.output('nan', g.constant(-1).sqrt())
    const r = evaluateCpu(g, {})
    expect(at(r.values.inf, 0)).toBe(Infinity)
    expect(at(r.values.nan, 0)).toBeNaN()
  })
})

describe('validation', () => {
  test('an Expr of another graph', () => {
    const g = new Graph()
    const h = new Graph()
    const x = g.input('x')
    const y = h.input('y')
    expect(() => x.add(y)).toThrow(GraphError)
    expect(() => g.output('f', y)).toThrow(GraphError)
    expect(() => g.apply('sin', [y])).toThrow(GraphError)
    expect(() => add(x, y)).toThrow(/another Graph/)
  })

  test('NaN and infinite constants', () => {
    const g = new Graph()
    const x = g.input('x')
    for (const v of [NaN, Infinity, -Infinity]) {
      expect(() => g.constant(v)).toThrow(GraphError)
      expect(() => x.add(v)).toThrow(GraphError)
      expect(() => g.output('f', v)).toThrow(GraphError)
    }
  })

  test('names that are not identifiers, or start with __', () => {
    const g = new Graph()
    for (const bad of ['', '1x', 'a b', 'x-y', 'é', 'x.y', ' x', '__x', '__', '__proto__']) {
      expect(() => g.input(bad), JSON.stringify(bad)).toThrow(GraphError)
      expect(() => g.output(bad, 1), JSON.stringify(bad)).toThrow(GraphError)
    }
    expect(() => g.input(3 as unknown as string)).toThrow(GraphError)
    for (const good of ['x', '_x', 'x_1', 'X9', '_']) expect(g.input(good).kind).toBe('input')
  })

  test('a duplicate output; an output named like an input and vice versa', () => {
    const g = new Graph()
    const x = g.input('x')
    g.output('f', x)
    expect(() => g.output('f', x.sin())).toThrow(GraphError)
    expect(() => g.output('x', x.sin())).toThrow(GraphError)
    expect(() => g.input('f')).toThrow(GraphError)
    expect(g.outputs).toEqual(['f'])
    expect(g.inputs).toEqual(['x'])
  })

  test('wrong arity and unknown ops through g.apply', () => {
    const g = new Graph()
    const x = g.input('x')
    expect(() => g.apply('sin', [x, x])).toThrow(GraphError)
    expect(() => g.apply('add', [x])).toThrow(GraphError)
    expect(() => g.apply('where', [x, x])).toThrow(GraphError)
    expect(() => g.apply('sin', [])).toThrow(GraphError)
    expect(() => g.apply('nope' as 'sin', [x])).toThrow(GraphError)
    expect(() => g.apply('toString' as 'sin', [x])).toThrow(GraphError)
    const extra = x.sin as unknown as (this: Expr, y: Expr) => Expr
    expect(() => extra.call(x, x)).toThrow(GraphError)
  })

  test('free functions with numbers only', () => {
    expect(() => fns.sin(2)).toThrow(GraphError)
    expect(() => add(1, 2)).toThrow(GraphError)
    expect(() => where(1, 2, 3)).toThrow(GraphError)
  })

  test('arguments that are neither numbers nor Exprs', () => {
    const g = new Graph()
    const x = g.input('x')
    for (const bad of ['1', null, undefined, {}, [1], true, 1n, { id: 0, graph: g }]) {
      expect(() => x.add(bad as unknown as ExprLike), String(bad)).toThrow(GraphError)
      expect(() => g.apply('mul', [x, bad as unknown as ExprLike])).toThrow(GraphError)
    }
    expect(() => g.output('f', 'x' as unknown as ExprLike)).toThrow(GraphError)
    expect(() => g.constant('1' as unknown as number)).toThrow(GraphError)
  })

  test('node accessors reject ids outside the graph', () => {
    const g = new Graph()
    g.input('x')
    for (const id of [-1, 1, 1.5, NaN]) {
      expect(() => g.kind(id)).toThrow(GraphError)
      expect(() => g.args(id)).toThrow(GraphError)
      expect(() => g.label(id)).toThrow(GraphError)
    }
    expect(() => g.inputNode('y')).toThrow(GraphError)
    expect(() => g.outputNode('f')).toThrow(GraphError)
  })
})

describe('free functions', () => {
  test('build the same nodes as the methods, for every op', () => {
    const g = new Graph()
    const x = g.input('x')
    const y = g.input('y')
    const z = g.input('z')
    for (const name of OP_NAMES) {
      const args = [x, y, z].slice(0, OPS[name].arity)
      const free = (fns[name] as (...a: Expr[]) => Expr)(...args)
      const method = (x[name] as (...a: Expr[]) => Expr)(...args.slice(1))
      expect(free.id, name).toBe(method.id)
      expect(free.kind).toBe(name)
    }
  })

  test('the named exports, with numbers in any position', () => {
    const g = new Graph()
    const x = g.input('x')
    expect(sin(x).id).toBe(x.sin().id)
    expect(add(1, x).id).toBe(x.add(1).id)
    expect(sub(1, x).id).toBe(g.constant(1).sub(x).id)
    expect(mul(x, x).id).toBe(x.mul(x).id)
    expect(neg(x).id).toBe(x.neg().id)
    expect(atan2(1, x).id).toBe(g.constant(1).atan2(x).id)
    expect(where(x.gt(0), x, 0).id).toBe(x.gt(0).where(x, 0).id)
    expect(where(x.gt(0), 1, 2).kind).toBe('where')
  })
})

describe('labels', () => {
  test('the first name given wins', () => {
    const g = new Graph()
    const x = g.input('x')
    const s = x.sin()
    expect(g.label(s.id)).toBeUndefined()
    g.setLabel(s, 'first')
    g.setLabel(s, 'second')
    expect(g.label(s.id)).toBe('first')
    g.setLabel(x, 'other')
    expect(g.label(x.id)).toBe('x')
  })
})
