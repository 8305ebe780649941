/**
 * Serialization: Graph <-> a plain JSON-able object. In: a Graph (graphToJSON) or a parsed JSON
 * value (graphFromJSON). Out: `{ format: 'wavegrad-graph', version: 1, inputs, outputs, nodes }`,
 * or a Graph rebuilt from it through the public builder API.
 *
 * Format (version 1): `nodes[i]` is node id i, one of
 *   { op: 'input', name: 'x' }                 (a parameter, Graph.param: { op: 'input', name: 'w', param: true })
 *   { op: 'const', value: 2.5 }            value: a JSON number, or '-0' | 'NaN' | 'Infinity' |
 *                                           '-Infinity' (JSON has no such numbers; a Graph holds
 *                                           finite constants only, so only '-0' ever appears)
 *   { op: 'sin', args: [3], label?: 'y' }  any op of the table; args are node indices
 * `inputs` lists the input names in graph order (= the order of the input nodes); `outputs` is
 * `[{ name, node }]` in definition order. Any node may carry a `label` (inputs: their name, implied).
 *
 * Invariants: the round trip is exact — same node ids, kinds, argument order, constants (bit for
 * bit, -0 included), labels, dead nodes, input and output order — so graphToJSON(graphFromJSON(j))
 * deep-equals j and every engine gives bit-identical results. Every argument refers to an earlier
 * node, so a cycle cannot be expressed. Malformed input raises GraphError naming the node and the
 * problem; unknown fields are errors too (a typo must not be dropped silently).
 */
import { GraphError } from './errors.js'
import { Graph, checkName, describe, type Expr, type NodeKind } from './graph.js'
import { OPS, isOpName } from './ops.js'

export const GRAPH_FORMAT = 'wavegrad-graph'
export const GRAPH_FORMAT_VERSION = 1

/** A number as JSON can hold it: finite numbers as such, the rest (and -0) by name. */
export type JsonNumber = number | '-0' | 'NaN' | 'Infinity' | '-Infinity'

export type GraphNodeJSON =
  | { readonly op: 'input'; readonly name: string; readonly param?: true }
  | { readonly op: 'const'; readonly value: JsonNumber; readonly label?: string }
  | { readonly op: string; readonly args: readonly number[]; readonly label?: string }

export interface GraphJSON {
  readonly format: typeof GRAPH_FORMAT
  readonly version: typeof GRAPH_FORMAT_VERSION
  readonly inputs: readonly string[]
  readonly outputs: readonly { readonly name: string; readonly node: number }[]
  readonly nodes: readonly GraphNodeJSON[]
}

export interface FromJSONOptions {
  /**
   * Build the graph with simplification (hash-consing, folding) on. Default: on where that rebuilds
   * the graph node for node (every graph parse() or the default builder made), else off (graphs of
   * the eager Value, or hand-written JSON with repeated subexpressions). `true` makes such JSON an
   * error instead; `false` always builds without simplification.
   */
  readonly simplify?: boolean
}

const SPECIAL: Readonly<Record<string, number>> = { '-0': -0, NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity }

/**
 * A JSON-able description of a graph (all nodes, dead ones included).
 *
 * @example
 * const j = graphToJSON(parse('f = x*y + 1'))
 * JSON.stringify(j)   // '{"format":"wavegrad-graph","version":1,"inputs":["x","y"],...}'
 */
export function graphToJSON(graph: Graph): GraphJSON {
  const nodes: GraphNodeJSON[] = []
  for (let id = 0; id < graph.nodeCount; id++) {
    const kind = graph.kind(id)
    const label = graph.label(id)
    if (kind === 'input') {
      nodes.push(graph.isParam(label!) ? { op: 'input', name: label!, param: true } : { op: 'input', name: label! })
      continue
    }
    const node = kind === 'const' ? { op: kind, value: encodeNumber(graph.constValue(id)) } : { op: kind, args: graph.args(id).slice() }
    nodes.push(label === undefined ? node : { ...node, label })
  }
  return {
    format: GRAPH_FORMAT,
    version: GRAPH_FORMAT_VERSION,
    inputs: graph.inputs.slice(),
    outputs: graph.outputs.map((name) => ({ name, node: graph.outputNode(name) })),
    nodes,
  }
}

/**
 * Rebuilds a graph from graphToJSON's object (or its JSON.parse'd text); GraphError on anything
 * malformed, naming the node index and the problem.
 *
 * @example
 * const g = graphFromJSON(JSON.parse(text))
 * evaluateCpu(g, { x: [1], y: [2] }).values.f
 */
export function graphFromJSON(json: unknown, options: FromJSONOptions = {}): Graph {
  const j = checkJSON(json)
  if (options.simplify !== undefined) return build(j, options.simplify, true)!
  return build(j, true, false) ?? build(j, false, true)!
}

/** `value` in the format's number encoding. */
export function encodeNumber(value: number): JsonNumber {
  if (Object.is(value, -0)) return '-0'
  if (Number.isFinite(value)) return value
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'
}

/** The number a JsonNumber stands for (undefined if it is none). */
export function decodeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SPECIAL, value) ? SPECIAL[value] : undefined
}

/** Structural checks of the whole object, before any node is built. */
function checkJSON(json: unknown): GraphJSON {
  const j = record(json, 'graph JSON')
  fields(j, ['format', 'version', 'inputs', 'outputs', 'nodes'], 'graph JSON')
  if (j.format !== GRAPH_FORMAT) throw new GraphError(`graph JSON: format must be '${GRAPH_FORMAT}', got ${describe(j.format)}`)
  if (j.version !== GRAPH_FORMAT_VERSION) throw new GraphError(`graph JSON: version ${describe(j.version)} is not supported (this wavegrad reads version ${GRAPH_FORMAT_VERSION})`)
  const nodes = list(j.nodes, 'graph JSON: nodes')
  const inputNames: string[] = []
  nodes.forEach((raw, i) => {
    const n = record(raw, `node ${i}`)
    const op = n.op
    if (op === 'input') {
      fields(n, ['op', 'name', 'param'], `node ${i} (input)`)
      wrap(`node ${i} (input)`, () => checkName(n.name, 'input'))
      if (n.param !== undefined && n.param !== true) throw new GraphError(`node ${i} (input): param must be true when present, got ${describe(n.param)}`)
      inputNames.push(n.name as string)
      return
    }
    if (op === 'const') {
      fields(n, ['op', 'value', 'label'], `node ${i} (const)`)
      if (decodeNumber(n.value) === undefined) {
        throw new GraphError(`node ${i} (const): value must be a finite number or one of '-0', 'NaN', 'Infinity', '-Infinity', got ${describe(n.value)}`)
      }
    } else {
      if (typeof op !== 'string' || !isOpName(op)) throw new GraphError(`node ${i}: unknown op ${describe(op)} (ops: input, const, ${Object.keys(OPS).join(', ')})`)
      fields(n, ['op', 'args', 'label'], `node ${i} (${op})`)
      const args = list(n.args, `node ${i} (${op}): args`)
      if (args.length !== OPS[op].arity) throw new GraphError(`node ${i} (${op}): takes ${OPS[op].arity} argument(s), got ${args.length}`)
      args.forEach((a, k) => {
        if (typeof a !== 'number' || !Number.isInteger(a) || a < 0) throw new GraphError(`node ${i} (${op}): argument ${k} must be a node index, got ${describe(a)}`)
        if (a >= i) {
          throw new GraphError(`node ${i} (${op}): argument ${k} refers to node ${a}, ${a < nodes.length ? 'which does not come before it (arguments must precede their node, so cycles cannot occur)' : `but there are only ${nodes.length} nodes`}`)
        }
      })
    }
    if (n.label !== undefined) wrap(`node ${i} (${String(op)})`, () => checkName(n.label, 'label'))
  })
  const inputs = list(j.inputs, 'graph JSON: inputs')
  if (inputs.length !== inputNames.length || inputs.some((name, k) => name !== inputNames[k])) {
    throw new GraphError(`graph JSON: inputs ${JSON.stringify(inputs)} do not match the input nodes, in order: ${JSON.stringify(inputNames)}`)
  }
  list(j.outputs, 'graph JSON: outputs').forEach((raw, k) => {
    const o = record(raw, `output ${k}`)
    fields(o, ['name', 'node'], `output ${k}`)
    wrap(`output ${k}`, () => checkName(o.name, 'output'))
    if (typeof o.node !== 'number' || !Number.isInteger(o.node) || o.node < 0 || o.node >= nodes.length) {
      throw new GraphError(`output ${k} ('${String(o.name)}'): node must be an index below ${nodes.length}, got ${describe(o.node)}`)
    }
  })
  return j as unknown as GraphJSON
}

/**
 * Builds the graph node by node, checking that node i became id i with the same kind and
 * arguments. On a mismatch: GraphError where `strict`, else undefined (the caller retries with
 * simplification off, which always reproduces a checked JSON).
 */
function build(j: GraphJSON, simplify: boolean, strict: boolean): Graph | undefined {
  const graph = new Graph({ simplify })
  const exprs: Expr[] = []
  for (let i = 0; i < j.nodes.length; i++) {
    const n = j.nodes[i]! as { op: string; name?: string; param?: true; value?: JsonNumber; args?: number[]; label?: string }
    const where = `node ${i} (${n.op})`
    const e = wrap(where, () => {
      if (n.op === 'input') return n.param ? graph.param(n.name!) : graph.input(n.name!)
      if (n.op === 'const') return graph.constant(decodeNumber(n.value)!)
      return graph.apply(n.op as NodeKind & keyof typeof OPS, n.args!.map((a) => exprs[a]!))
    })
    const same = e.id === i && graph.kind(e.id) === n.op && (n.args ?? []).every((a, k) => graph.args(e.id)[k] === a)
    if (!same) {
      if (!strict) return undefined
      const what = n.op === 'const' ? `the constant ${String(n.value)} is already node ${e.id}` : n.op === 'input' ? `input '${n.name}' is already node ${e.id}` : `it became node ${e.id} (${graph.kind(e.id)}${e.id < i ? `, args ${graph.args(e.id).join(', ')}` : ''})`
      throw new GraphError(`${where}: cannot be rebuilt exactly${simplify ? ' with simplification on' : ''}: ${what}`)
    }
    if (n.label !== undefined) wrap(where, () => graph.setLabel(e, n.label!))
    exprs.push(e)
  }
  j.outputs.forEach((o, k) => wrap(`output ${k}`, () => graph.output(o.name, exprs[o.node]!)))
  return graph
}

function record(x: unknown, what: string): Record<string, unknown> {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new GraphError(`${what} must be an object, got ${describe(x)}`)
  return x as Record<string, unknown>
}

function list(x: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(x)) throw new GraphError(`${what} must be an array, got ${describe(x)}`)
  return x
}

function fields(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k))
  if (extra.length) throw new GraphError(`${what}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')} (allowed: ${allowed.join(', ')})`)
}

/** Runs f, prefixing the message of a GraphError it throws with `where`. */
function wrap<T>(where: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof GraphError) throw new GraphError(`${where}: ${e.message}`)
    throw e
  }
}
