/**
 * emitJs: Levels + Plan -> a compiled JavaScript function over the batch. In: a levelized graph and
 * its plan. Out: straight-line float64 code, one loop over bindings, computing every live node and
 * then, per output, the reverse sweep gathering adjoints, writing the same rows as the GPU kernel.
 *
 * It calls the op table's own eval/partials closures (each call site sees one function, so V8
 * inlines it), so it cannot drift from the CPU reference; it differs from it only in speed
 * (no per-node arrays, no interpretation). Used as the benchmark baseline and the CPU fallback.
 */
import type { Levels } from '../levelize.js'
import { gradientCone } from '../levelize.js'
import { OPS, type OpSpec } from '../ops.js'
import type { Plan } from '../plan.js'

/** inputs[k][start + j] for binding j of the chunk; rows[r][start + j] receives row r. */
export type CompiledJs = (inputs: readonly ArrayLike<number>[], rows: readonly Float64Array[], start: number, len: number) => void

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
  const name = (id: number) => (graph.kind(id) === 'const' ? numberLiteral(graph.constValue(id)) : `v${id}`)
  const specOf = (id: number): OpSpec => OPS[graph.kind(id) as keyof typeof OPS]
  const lines: string[] = []
  graph.inputs.forEach((input, k) => lines.push(`const v${graph.inputNode(input)} = +I${k}[i];`))
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    lines.push(`const v${id} = ${ref(specOf(id).eval)}(${graph.args(id).map(name).join(', ')});`)
  }
  const rowOf = new Map(plan.rows.map((r, i) => [`${r.kind}:${r.output}:${r.input ?? ''}`, i]))
  graph.outputs.forEach((output, k) => {
    const out = graph.outputNode(output)
    lines.push(`R${rowOf.get(`value:${output}:`)}[i] = ${name(out)};`)
    const cone = gradientCone(levels, out)
    const adj: (string | undefined)[] = []
    for (let p = order.length - 1; p >= 0; p--) {
      const id = order[p]!
      if (!cone[id]) continue
      const terms: string[] = id === out ? ['1'] : []
      for (let e = levels.consumerStart[id]!; e < levels.consumerStart[id + 1]!; e++) {
        const user = levels.consumers[e]!
        const g = adj[user]
        if (!cone[user] || g === undefined) continue
        const args = graph.args(user).map(name)
        while (args.length < 3) args.push('NaN')
        const partial = ref(specOf(user).partials[levels.consumerSlot[e]!]!)
        terms.push(`(${g} === 0 ? 0 : ${g} * ${partial}(${args.join(', ')}, v${user}))`)
      }
      if (!terms.length) continue
      adj[id] = `d${k}_${id}`
      lines.push(`const d${k}_${id} = ${terms.join(' + ')};`)
    }
    for (const input of graph.inputs) lines.push(`R${rowOf.get(`jacobian:${output}:${input}`)}[i] = ${adj[graph.inputNode(input)] ?? '0'};`)
  })
  const header = [
    ...fns.map((_, i) => `const F${i} = fns[${i}];`),
    'return function run(inputs, rows, start, len) {',
    ...graph.inputs.map((_, k) => `  const I${k} = inputs[${k}];`),
    ...plan.rows.map((_, r) => `  const R${r} = rows[${r}];`),
    '  for (let i = start, end = start + len; i < end; i++) {',
  ]
  const source = [...header, ...lines.map((l) => `    ${l}`), '  }', '}'].join('\n')
  return new Function('fns', source)(fns) as CompiledJs
}

function numberLiteral(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}
