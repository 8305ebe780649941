/**
 * Serialization: exact round trips (structure, labels, constants bit for bit, dead nodes, order of
 * inputs and outputs, bit-identical CPU results) and a GraphError naming the node for every kind of
 * malformed JSON.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { evaluateCpu, Graph, GraphError, OP_NAMES, OPS, parse } from '../../src/index.js'
import { graphFromJSON, graphToJSON, type GraphJSON } from '../../src/serialize.js'
import { buildSmoothDag, rng } from './helpers.js'

/** Every structural fact of a graph, through its public API. */
function structure(g: Graph) {
  return {
    inputs: g.inputs,
    outputs: g.outputs.map((o) => [o, g.outputNode(o)]),
    nodes: Array.from({ length: g.nodeCount }, (_, id) => {
      const kind = g.kind(id)
      const value = kind === 'const' ? (Object.is(g.constValue(id), -0) ? '-0' : g.constValue(id)) : undefined
      return [kind, g.args(id), value, g.label(id)]
    }),
  }
}

/** JSON text round trip: what a file on disk goes through. */
const viaText = (g: Graph) => graphFromJSON(JSON.parse(JSON.stringify(graphToJSON(g))))

function expectBitIdentical(a: Graph, b: Graph, bindings: Record<string, Float64Array>) {
  for (const precision of ['f64', 'f32'] as const) {
    const ra = evaluateCpu(a, bindings, { precision })
    const rb = evaluateCpu(b, bindings, { precision })
    for (const o of a.outputs) {
      expect(new Uint8Array(rb.values[o]!.buffer)).toEqual(new Uint8Array(ra.values[o]!.buffer))
      for (const i of a.inputs) expect(new Uint8Array(rb.jacobian[o]![i]!.buffer)).toEqual(new Uint8Array(ra.jacobian[o]![i]!.buffer))
    }
  }
}

const randomBindings = (g: Graph, size: number, seed: number) => {
  const r = rng(seed)
  return Object.fromEntries(g.inputs.map((n) => [n, Float64Array.from({ length: size }, () => 4 * r() - 2)]))
}

describe('round trip', () => {
  test('Rosenbrock: the JSON names everything, and the rebuilt graph is the same node for node', () => {
    const g = parse('t = y - x^2\nf = (1-x)^2 + 100*t^2')
    const j = graphToJSON(g)
    expect(j.format).toBe('wavegrad-graph')
    expect(j.version).toBe(1)
    expect(j.inputs).toEqual(['y', 'x'])
    expect(j.outputs).toEqual([{ name: 'f', node: g.outputNode('f') }])
    expect(j.nodes[0]).toEqual({ op: 'input', name: 'y' })
    expect(j.nodes.some((n) => 'label' in n && n.label === 't')).toBe(true)
    const back = viaText(g)
    expect(structure(back)).toEqual(structure(g))
    expect(graphToJSON(back)).toEqual(j)
    expectBitIdentical(g, back, randomBindings(g, 200, 1))
  })

  test('constants bit for bit: -0, subnormals, extremes, 0.1', () => {
    const g = new Graph()
    const x = g.input('x')
    const ks = [-0, 0, 0.1, 5e-324, -2.2250738585072014e-308, Number.MAX_VALUE, -1 / 3, 1e21, 123456789.123456789]
    ks.forEach((k, i) => g.output(`o${i}`, x.mul(k).add(1)))
    g.output('neg0', -0)
    const j = graphToJSON(g)
    expect(j.nodes.filter((n) => n.op === 'const' && 'value' in n && n.value === '-0').length).toBe(1)
    const back = viaText(g)
    expect(structure(back)).toEqual(structure(g))
    for (let id = 0; id < g.nodeCount; id++) if (g.kind(id) === 'const') expect(Object.is(back.constValue(id), g.constValue(id))).toBe(true)
    expectBitIdentical(g, back, { x: Float64Array.from([-3, -0, 0, 1e-300, 7]) })
  })

  test('dead nodes, an output named twice, a constant output, labels on constants', () => {
    const g = parse('a = 2\nunused = sin(x) * 3\nf = x * a\ng = x + y')
    const h = new Graph()
    const x = h.input('x')
    x.exp().log()
    const s = x.sin()
    h.output('s', s)
    h.output('t', s)
    h.output('k', 4)
    h.setLabel(s, 'sine')
    for (const graph of [g, h]) {
      const back = viaText(graph)
      expect(structure(back)).toEqual(structure(graph))
      expect(back.nodeCount).toBe(graph.nodeCount)
    }
    expect(graphToJSON(h).outputs.map((o) => o.name)).toEqual(['s', 't', 'k'])
  })

  test('every op of the table, its arguments in their order', () => {
    const g = new Graph()
    const [a, b, c] = ['a', 'b', 'c'].map((n) => g.input(n)) as [ReturnType<Graph['input']>, ReturnType<Graph['input']>, ReturnType<Graph['input']>]
    for (const op of OP_NAMES) g.output(`o_${op}`, g.apply(op, [c, b, a].slice(0, OPS[op].arity)))
    const back = viaText(g)
    expect(structure(back)).toEqual(structure(g))
    expect(graphToJSON(back)).toEqual(graphToJSON(g))
    const r = rng(3)
    const bindings = { a: Float64Array.from({ length: 64 }, () => r() * 0.9 + 0.05), b: Float64Array.from({ length: 64 }, () => r() * 0.9 + 0.05), c: Float64Array.from({ length: 64 }, () => Math.round(r())) }
    expectBitIdentical(g, back, bindings)
  })

  test('a graph without simplification (repeated subexpressions, x+0, unsorted commutative args) is rebuilt exactly', () => {
    const g = new Graph({ simplify: false })
    const x = g.input('x')
    const y = g.input('y')
    g.output('f', y.add(x).mul(y.add(x)).add(0).mul(2).add(3))
    const back = viaText(g)
    expect(structure(back)).toEqual(structure(g))
    expectBitIdentical(g, back, randomBindings(g, 50, 2))
    // Forcing simplification on must refuse rather than merge the two y + x nodes.
    expect(() => graphFromJSON(graphToJSON(g), { simplify: true })).toThrow(/cannot be rebuilt exactly with simplification on/)
  })

  test('a simplifying graph loads as one that keeps simplifying; the eager Value graph loads without', () => {
    const back = graphFromJSON(graphToJSON(parse('f = x * y')))
    const x = back.input('x')
    const y = back.input('y')
    expect(x.mul(y).id).toBe(back.outputNode('f'))
    expect(y.mul(x).id).toBe(back.outputNode('f'))
    expect(x.add(1).add(1).kind).toBe('add')
    expect(x.mul(1).id).toBe(x.id)
    const plain = graphFromJSON(graphToJSON(parse('f = x * y')), { simplify: false })
    expect(plain.input('x').mul(plain.input('y')).id).not.toBe(plain.outputNode('f'))
  })

  test('graphToJSON(graphFromJSON(j)) deep-equals j for random DAGs (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({
          inputs: fc.integer({ min: 1, max: 4 }),
          steps: fc.array(fc.record({ op: fc.nat(20), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 30 }),
          outputs: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
          simplify: fc.boolean(),
        }),
        ({ inputs, steps, outputs, simplify }) => {
          const g = new Graph({ simplify })
          const names = Array.from({ length: inputs }, (_, i) => `x${i}`)
          const pool = buildSmoothDag(g, names, steps)
          outputs.forEach((o, k) => g.output(`o${k}`, pool[o % pool.length]!.expr))
          const j = JSON.parse(JSON.stringify(graphToJSON(g))) as GraphJSON
          const back = graphFromJSON(j)
          expect(graphToJSON(back)).toEqual(j)
          expect(structure(back)).toEqual(structure(g))
          expectBitIdentical(g, back, randomBindings(g, 8, steps.length))
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('malformed JSON raises GraphError naming the node', () => {
  const good = (): GraphJSON => graphToJSON(parse('f = sin(x) * y'))
  const mutate = (f: (j: any) => void) => {
    const j = JSON.parse(JSON.stringify(good()))
    f(j)
    return j
  }
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 'f = x', /graph JSON must be an object, got the string/],
    ['wrong format tag', mutate((j) => (j.format = 'onnx')), /format must be 'wavegrad-graph', got the string "onnx"/],
    ['future version', mutate((j) => (j.version = 2)), /version number 2 is not supported/],
    ['nodes not an array', mutate((j) => (j.nodes = {})), /nodes must be an array/],
    ['unknown op', mutate((j) => (j.nodes[1].op = 'sinus')), /node 1: unknown op the string "sinus"/],
    ['bad arity', mutate((j) => (j.nodes[1].args = [0, 2])), /node 1 \(sin\): takes 1 argument\(s\), got 2/],
    ['dangling reference', mutate((j) => (j.nodes[3].args = [1, 9])), /node 3 \(mul\): argument 1 refers to node 9, but there are only 4 nodes/],
    ['forward reference (a cycle)', mutate((j) => (j.nodes[1].args = [3])), /node 1 \(sin\): argument 0 refers to node 3, which does not come before it/],
    ['self reference', mutate((j) => (j.nodes[1].args = [1])), /node 1 \(sin\): argument 0 refers to node 1/],
    ['argument not an index', mutate((j) => (j.nodes[3].args = [1, '2'])), /node 3 \(mul\): argument 1 must be a node index, got the string "2"/],
    ['fractional index', mutate((j) => (j.nodes[3].args = [1, 0.5])), /node 3 \(mul\): argument 1 must be a node index, got number 0.5/],
    ['args missing', mutate((j) => delete j.nodes[1].args), /node 1 \(sin\): args must be an array, got undefined/],
    ['node not an object', mutate((j) => (j.nodes[2] = 7)), /node 2 must be an object, got number 7/],
    ['unknown field', mutate((j) => (j.nodes[1].lable = 'q')), /node 1 \(sin\): unknown field 'lable'/],
    ['bad input name', mutate((j) => { j.nodes[0].name = '1x'; j.inputs[0] = '1x' }), /node 0 \(input\): input name "1x" is not an identifier/],
    ['bad label', mutate((j) => (j.nodes[1].label = 'a b')), /node 1 \(sin\): label name "a b" is not an identifier/],
    ['constant of the wrong type', mutate((j) => j.nodes.push({ op: 'const', value: '3' })), /node 4 \(const\): value must be a finite number or one of/],
    ['a non-finite constant', mutate((j) => j.nodes.push({ op: 'const', value: 'NaN' })), /node 4 \(const\): constants must be finite, got NaN/],
    ['duplicate constant', mutate((j) => j.nodes.push({ op: 'const', value: 2 }, { op: 'const', value: 2 })), /node 5 \(const\): cannot be rebuilt exactly: the constant 2 is already node 4/],
    ['duplicate input', mutate((j) => { j.nodes.push({ op: 'input', name: 'x' }); j.inputs.push('x') }), /node 4 \(input\): cannot be rebuilt exactly: input 'x' is already node 0/],
    ['inputs out of order', mutate((j) => j.inputs.reverse()), /inputs \["y","x"\] do not match the input nodes, in order: \["x","y"\]/],
    ['output to a missing node', mutate((j) => (j.outputs[0].node = 4)), /output 0 \('f'\): node must be an index below 4, got number 4/],
    ['output named like an input', mutate((j) => (j.outputs[0].name = 'x')), /output 0: 'x' is an input; it cannot also be an output/],
    ['output defined twice', mutate((j) => j.outputs.push({ name: 'f', node: 1 })), /output 1: output 'f' is already defined/],
  ]
  test.each(cases)('%s', (_, json, message) => {
    let error: unknown
    try {
      graphFromJSON(json)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(GraphError)
    expect((error as Error).message).toMatch(message)
  })
})
