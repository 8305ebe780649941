/**
 * The seed example, a = 3, b = a*4, c = b+3, d = a+2, e = c*d, through every front end.
 * By hand: e = (4a + 3)(a + 2), de/da = 4(a + 2) + (4a + 3) = 8a + 11 = 35 at a = 3;
 * de/db = d = 5, de/dc = d = 5, de/dd = c = 15, de/de = 1.
 */
import { describe, expect, test } from 'vitest'
import { Graph, Value, evaluateCpu, parse } from '../../src/index.js'
import { at } from './helpers.js'

describe('seed example through Value', () => {
  test('values and a gradient on every Value', () => {
    const a = new Value(3)
    const b = a.mul(4)
    const c = b.add(3)
    const d = a.add(2)
    const e = c.mul(d)
    e.backward()
    expect([a.data, b.data, c.data, d.data, e.data]).toEqual([3, 12, 15, 5, 75])
    expect([a.grad, b.grad, c.grad, d.grad, e.grad]).toEqual([35, 5, 5, 15, 1])
  })

  test('the one-line form of DESIGN.md', () => {
    const a = new Value(3)
    const e = a.mul(4).add(3).mul(a.add(2))
    e.backward()
    expect(e.data).toBe(75)
    expect(a.grad).toBe(35)
  })

  test('a node reached along two paths is counted once', () => {
    for (const x of [3, -1.5, 0.25]) {
      const a = new Value(x)
      const b = a.mul(a)
      const c = b.add(b)
      c.backward()
      // c = 2a², dc/da = 4a; dc/db = 2
      expect(c.data).toBe(2 * x * x)
      expect(a.grad).toBe(4 * x)
      expect(b.grad).toBe(2)
      expect(c.grad).toBe(1)
    }
  })

  test('diamond: a feeds two branches that meet again', () => {
    const a = new Value(2)
    const b = a.sin()
    const c = a.exp()
    const d = b.mul(c)
    d.backward()
    // d = sin a · eᵃ, dd/da = (cos a + sin a) eᵃ
    expect(a.grad).toBeCloseTo((Math.cos(2) + Math.sin(2)) * Math.exp(2), 12)
    expect(b.grad).toBeCloseTo(Math.exp(2), 12)
    expect(c.grad).toBeCloseTo(Math.sin(2), 12)
  })

  test('a 10⁵-long chain does not overflow the stack', () => {
    const c = 1.00001
    const x = new Value(0.5)
    let v = x
    const pairs = 50_000
    for (let i = 0; i < pairs; i++) v = v.mul(c).add(1)
    v.backward()
    // v_{k+1} = c·v_k + 1  =>  v_N = cᴺ·x + (cᴺ - 1)/(c - 1), dv_N/dx = cᴺ
    const cN = Math.pow(c, pairs)
    expect(Math.abs(x.grad - cN) / cN).toBeLessThan(1e-9)
    const expected = cN * 0.5 + (cN - 1) / (c - 1)
    expect(Math.abs(v.data - expected) / expected).toBeLessThan(1e-9)
    expect(v.grad).toBe(1)
  })

  test('backward replaces gradients by default and adds them with { accumulate: true }', () => {
    const a = new Value(3)
    const e = a.mul(4).add(3).mul(a.add(2))
    e.backward()
    e.backward()
    expect(a.grad).toBe(35)
    e.backward({ accumulate: true })
    expect(a.grad).toBe(70)
    expect(e.grad).toBe(2)
    e.backward({ accumulate: false })
    expect(a.grad).toBe(35)
  })

  test('a Value that the root does not reach keeps its gradient', () => {
    const a = new Value(3)
    const other = a.mul(10)
    const e = a.mul(a)
    e.backward()
    expect(a.grad).toBe(6)
    expect(other.grad).toBe(0)
  })

  test('numbers mix with Values, on either side through the methods', () => {
    const a = new Value(2)
    const b = new Value(5)
    const e = a.sub(1).div(b).pow(2) // ((a-1)/b)²
    e.backward()
    // de/da = 2(a-1)/b², de/db = -2(a-1)²/b³
    expect(e.data).toBeCloseTo(1 / 25, 15)
    expect(a.grad).toBeCloseTo(2 / 25, 15)
    expect(b.grad).toBeCloseTo(-2 / 125, 15)
  })

  test('non-finite numbers in an eager expression reach backward() as numbers, not errors', () => {
    const a = new Value(2)
    const e = a.mul(Infinity)
    expect(e.data).toBe(Infinity)
    e.backward()
    // d(a·∞)/da = ∞
    expect(a.grad).toBe(Infinity)
  })
})

describe('seed example through the builder and evaluateCpu', () => {
  test('values of every intermediate and the Jacobian row of e', () => {
    const g = new Graph()
    const a = g.input('a')
    const b = a.mul(4)
    const c = b.add(3)
    const d = a.add(2)
    const e = c.mul(d)
    g.output('b', b)
    g.output('c', c)
    g.output('d', d)
    g.output('e', e)
    const r = evaluateCpu(g, { a: [3] })
    expect([at(r.values.b, 0), at(r.values.c, 0), at(r.values.d, 0), at(r.values.e, 0)]).toEqual([12, 15, 5, 75])
    expect(at(r.jacobian.e?.a, 0)).toBe(35)
    expect(at(r.jacobian.b?.a, 0)).toBe(4)
    expect(at(r.jacobian.c?.a, 0)).toBe(4)
    expect(at(r.jacobian.d?.a, 0)).toBe(1)
  })

  test('the intermediate gradients, with b, c and d cut loose as inputs', () => {
    // e = (b + 3)·d: de/db = d = 5, de/dd = b + 3 = 15; e = c·d: de/dc = d = 5
    const g = new Graph()
    const b = g.input('b')
    const d = g.input('d')
    g.output('e', b.add(3).mul(d))
    const r = evaluateCpu(g, { b: [12], d: [5] })
    expect(at(r.values.e, 0)).toBe(75)
    expect(at(r.jacobian.e?.b, 0)).toBe(5)
    expect(at(r.jacobian.e?.d, 0)).toBe(15)
    const h = new Graph()
    h.output('e', h.input('c').mul(h.input('d')))
    const s = evaluateCpu(h, { c: [15], d: [5] })
    expect(at(s.jacobian.e?.c, 0)).toBe(5)
    expect(at(s.jacobian.e?.d, 0)).toBe(15)
  })

  test('a batch of a values: de/da = 8a + 11', () => {
    const g = new Graph()
    const a = g.input('a')
    g.output('e', a.mul(4).add(3).mul(a.add(2)))
    const xs = [3, 0, -2, 1.5, 100]
    const r = evaluateCpu(g, { a: xs })
    xs.forEach((x, i) => {
      expect(at(r.values.e, i)).toBe((4 * x + 3) * (x + 2))
      expect(at(r.jacobian.e?.a, i)).toBe(8 * x + 11)
    })
  })
})

describe('seed example through parse', () => {
  test('b = a*4; c = b+3; d = a+2; e = c*d', () => {
    const g = parse('b = a*4; c = b+3; d = a+2; e = c*d')
    expect(g.inputs).toEqual(['a'])
    expect(g.outputs).toEqual(['e'])
    const r = evaluateCpu(g, { a: [3] })
    expect(at(r.values.e, 0)).toBe(75)
    expect(at(r.jacobian.e?.a, 0)).toBe(35)
  })

  test('a shared node: y = x*x; z = y + y gives dz/dx = 4x', () => {
    const g = parse('y = x*x; z = y + y')
    const xs = [3, -2, 0, 0.5, 1e3]
    const r = evaluateCpu(g, { x: xs })
    xs.forEach((x, i) => {
      expect(at(r.values.z, i)).toBe(2 * x * x)
      expect(at(r.jacobian.z?.x, i)).toBe(4 * x)
    })
  })
})
