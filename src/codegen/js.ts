/**
 * emitJs: Levels + Plan -> compiled JavaScript over the batch. In: a levelized graph and its plan.
 * Out: straight-line float64 code that, per binding, computes every live node and then, per output,
 * the reverse sweep gathering adjoints, writing the same rows as the GPU kernel.
 *
 * Shape: a small graph is one loop body with every value and adjoint in a local. A big one keeps
 * values in a Float64Array V (slot per node) and adjoints in D, its statements cut into functions
 * of at most CHUNK statements, because V8 leaves one huge function unoptimized (a 700-node graph as
 * one function ran ~100x slower). Statements call the op table's own
 * eval/partials closures (each call site sees one function, so V8 inlines it), so this cannot drift
 * from the CPU reference; it only differs in speed. Used as the benchmark baseline.
 */
import { adjointSchedule, reachedBy, type Levels } from '../levelize.js'
import { OPS, type OpSpec } from '../ops.js'
import { rowIndex, type Plan } from '../plan.js'

/** inputs[k][i] (or inputs[k] itself, a number for every binding) and rows[r][i], i in [start, start + len). */
export type CompiledJs = (inputs: readonly (ArrayLike<number> | number)[], rows: readonly Float64Array[], start: number, len: number) => void

/** Statements per chunk function where the graph is too big for one body. */
const CHUNK = 200
/**
 * Up to this many statements the loop body is one function with locals (2x faster at ~100 nodes,
 * 8x at ~10 nodes, than chunks over typed arrays); beyond it V8 stops optimizing the body.
 */
const SINGLE_BODY = 1000

/**
 * Compiles a graph to a JS function that fills plan.rows for a range of bindings.
 *
 * @example
 * const lv = levelize(parse('f = x*y')); const run = emitJs(lv, planKernels(lv))
 * const rows = [new Float64Array(1), new Float64Array(1), new Float64Array(1)]
 * run([[2], [3]], rows, 0, 1)   // rows = [[6], [3], [2]]
 */
export function emitJs(levels: Levels, plan: Plan): CompiledJs {
  const { graph, order } = levels
  const fns: ((...a: number[]) => number)[] = []
  const fnIndex = new Map<unknown, number>()
  const ref = (f: (...a: number[]) => number) => {
    let i = fnIndex.get(f)
    if (i === undefined) {
      i = fns.length
      fns.push(f)
      fnIndex.set(f, i)
    }
    return `F${i}`
  }
  const slot = new Int32Array(graph.nodeCount)
  order.forEach((id, i) => (slot[id] = i))
  const val = (id: number) => (graph.kind(id) === 'const' ? numberLiteral(graph.constValue(id)) : `V[${slot[id]}]`)
  const specOf = (id: number): OpSpec => OPS[graph.kind(id) as keyof typeof OPS]

  // One statement list per phase: forward, then the reverse sweep of each output (with its stores).
  const forward: string[] = []
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind !== 'input' && kind !== 'const') forward.push(`V[${slot[id]}] = ${ref(specOf(id).eval)}(${graph.args(id).map(val).join(', ')});`)
  }
  // A partial that two or more outputs' sweeps need is computed once, right after the forward
  // sweep, into P (it does not depend on the output); the others are computed where they are used.
  const partialKey = (user: number, s: number) => user * 3 + s
  const sweeps = graph.outputs.map((output) => (plan.jacobian ? adjointSchedule(levels, graph.outputNode(output)) : []))
  const reached = sweeps.map((schedule) => reachedBy(schedule, graph.nodeCount))
  const uses = new Map<number, number>()
  sweeps.forEach((schedule, k) => {
    const seen = new Set<number>()
    for (const { users } of schedule) for (const { user, slot: s } of users) if (reached[k]![user]) seen.add(partialKey(user, s))
    for (const key of seen) uses.set(key, (uses.get(key) ?? 0) + 1)
  })
  const shared = new Map<number, number>()
  const partialCall = (user: number, s: number) => {
    const args = graph.args(user).map(val)
    while (args.length < 3) args.push('NaN')
    return `${ref(specOf(user).partials[s]!)}(${args.join(', ')}, V[${slot[user]}])`
  }
  for (const [key, count] of uses) {
    if (count > 1) {
      forward.push(`P[${shared.size}] = ${partialCall(Math.floor(key / 3), key % 3)};`)
      shared.set(key, shared.size)
    }
  }
  const phases = [forward]
  graph.outputs.forEach((output, k) => {
    const out = graph.outputNode(output)
    const lines = [`R[${rowIndex(plan, k)}][i] = ${val(out)};`]
    if (!plan.jacobian) {
      phases.push(lines)
      return
    }
    const has = reached[k]!
    for (const { node, seed, users } of sweeps[k]!) {
      if (!has[node]) continue
      const terms: string[] = seed ? ['1'] : []
      for (const { user, slot: s } of users) {
        if (!has[user]) continue
        const g = `D[${slot[user]}]`
        const at = shared.get(partialKey(user, s))
        terms.push(`(${g} === 0 ? 0 : ${g} * ${at === undefined ? partialCall(user, s) : `P[${at}]`})`)
      }
      lines.push(`D[${slot[node]}] = ${terms.join(' + ')};`)
    }
    graph.inputs.forEach((input, i) => {
      const id = graph.inputNode(input)
      lines.push(`R[${rowIndex(plan, k, i)}][i] = ${has[id] ? `D[${slot[id]}]` : '0'};`)
    })
    phases.push(lines)
  })

  const loads = graph.inputs.map((input, k) => `V[${slot[graph.inputNode(input)]}] = typeof I${k} === 'number' ? I${k} : +I${k}[i];`)
  const all = phases.flat()
  const header = [
    ...fns.map((_, i) => `const F${i} = fns[${i}];`),
    'return function run(inputs, R, start, len) {',
    ...graph.inputs.map((_, k) => `  const I${k} = inputs[${k}];`),
  ]
  let source: string
  if (all.length <= SINGLE_BODY) {
    // Small graph: one loop body with every value and adjoint in a local (registers, no arrays).
    const local = (line: string) => line.replace(/\bV\[(\d+)\]/g, 'v$1').replace(/\bD\[(\d+)\]/g, 'd$1').replace(/\bP\[(\d+)\]/g, 'p$1')
    const names = [...Array.from({ length: Math.max(order.length, 1) }, (_, k) => `v${k}, d${k}`), ...Array.from({ length: shared.size }, (_, k) => `p${k}`)].join(', ')
    source = [...header, '  for (let i = start, end = start + len; i < end; i++) {', `    let ${names};`, ...[...loads, ...all].map((l) => `    ${local(l)}`), '  }', '}'].join('\n')
  } else {
    // Large graph: V8 leaves one huge function unoptimized, so the statements go into functions of
    // CHUNK statements sharing the values and adjoints through two Float64Arrays.
    const chunks: string[] = []
    for (const lines of phases) {
      for (let c = 0; c < lines.length; c += CHUNK) chunks.push(`function (V, D, P, R, i) {\n${lines.slice(c, c + CHUNK).join('\n')}\n}`)
    }
    source = [
      `const chunks = [${chunks.join(',\n')}];`,
      `const V = new Float64Array(${Math.max(order.length, 1)});`,
      `const D = new Float64Array(${Math.max(order.length, 1)});`,
      `const P = new Float64Array(${Math.max(shared.size, 1)});`,
      ...header,
      '  for (let i = start, end = start + len; i < end; i++) {',
      ...loads.map((l) => `    ${l}`),
      '    for (let c = 0; c < chunks.length; c++) chunks[c](V, D, P, R, i);',
      '  }',
      '}',
    ].join('\n')
  }
  return new Function('fns', source)(fns) as CompiledJs
}

function numberLiteral(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}
