/**
 * emitWgsl: Plan + Levels -> one WGSL compute shader. In: a levelized graph and its plan. Out: WGSL
 * source in which each thread takes one binding, computes every live node as a `let` in wavefront
 * order, then for each output runs the reverse sweep, gathering each adjoint from its consumers in
 * registers (no atomics, no scratch memory), and writes the value and Jacobian rows of plan.rows.
 *
 * Invariants: names follow the source (v_<name> for a named node, t<id> otherwise; adjoints
 * d<output index>_<same>); constants are inlined as f32 literals; every expression is one op deep,
 * except sums of adjoint terms, which are split into `+=` statements beyond a few terms (Tint
 * rejects nesting deeper than 512). A term whose adjoint is 0 contributes 0 even if its partial is
 * infinite, as in the CPU reference.
 */
import { adjointSchedule, type Levels } from '../levelize.js'
import { OPS, wgslFloat, type OpSpec } from '../ops.js'
import { rowIndex, type Plan } from '../plan.js'
import { wgslPrelude } from './prelude.js'

/** An f32 literal as wgslFloat writes it, possibly negative and parenthesised. */
const LITERAL = /^\(?-?\d+(\.\d*)?(e[+-]?\d+)?\)?$/

/** Adjoint sums longer than this become one statement per term. */
const TERMS_PER_EXPRESSION = 8

/**
 * WGSL for the fused forward + reverse kernel of a plan.
 *
 * @example
 * const lv = levelize(parse('f = x * y')); emitWgsl(lv, planKernels(lv))  // '... let v_f = (v_x * v_y); ...'
 */
export function emitWgsl(levels: Levels, plan: Plan): string {
  const { graph, order } = levels
  const n = graph.nodeCount
  const names = nodeNames(levels)
  const constOf = (id: number): number | undefined => (graph.kind(id) === 'const' ? graph.constValue(id) : undefined)
  const argsOf = (id: number) => graph.args(id).map((a) => names[a]!)
  const specOf = (id: number): OpSpec => OPS[graph.kind(id) as keyof typeof OPS]

  const helpers = new Set<string>()
  const body: string[] = []
  const line = (s: string) => body.push(`  ${s}`)

  line('let b = gid.x + gid.y * params.row;')
  line('if (b >= params.n) { return; }')
  line('let s = params.stride;')
  graph.inputs.forEach((name, k) => line(`let ${names[graph.inputNode(name)]} = inputs[${k}u * s + b * steps[${k}]];`))
  line('// forward, in wavefront order')
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    const spec = specOf(id)
    for (const h of spec.helpers ?? []) helpers.add(h)
    line(`let ${names[id]} = ${spec.wgsl(argsOf(id), graph.args(id).map(constOf), names[id]!)};`)
  }

  graph.outputs.forEach((output, k) => {
    const out = graph.outputNode(output)
    line(`// ${output}: value, then reverse sweep`)
    line(`results[${rowIndex(plan, k)}u * s + b] = ${names[out]};`)
    const adj = new Array<string | undefined>(n)
    for (const { node, seed, users } of adjointSchedule(levels, out)) {
      const terms: string[] = seed ? ['1.0'] : []
      for (const { user, slot } of users) {
        const g = adj[user]
        if (g === undefined) continue
        const p = specOf(user).wgslPartials[slot]!(argsOf(user), graph.args(user).map(constOf), names[user]!)
        // A finite literal partial cannot turn a zero adjoint into NaN, so it needs no guard. A zero
        // literal (a constant operand) is read at run time (params.pad is 0): a compiler folds
        // g * 0.0 to 0, but an infinite adjoint must give NaN there, as in every engine.
        terms.push(
          p === '1.0' ? g
          : p === '-1.0' ? `(-${g})`
          : p === '0.0' || p === '-0.0' || p === '(-0.0)' ? `${g} * bitcast<f32>(params.pad)`
          : LITERAL.test(p) ? `${g} * ${p}`
          : `select(${g} * ${p}, 0.0, ${g} == 0.0)`,
        )
      }
      if (terms.length === 0) continue
      // d<k>_<source name> for named nodes, d<k>t<id> for the rest: never the same name twice.
      const name = names[node]!.startsWith('v_') ? `d${k}_${names[node]!.slice(2)}` : `d${k}${names[node]}`
      adj[node] = name
      if (terms.length <= TERMS_PER_EXPRESSION) {
        line(`let ${name} = ${terms.join(' + ')};`)
      } else {
        line(`var ${name} = ${terms[0]};`)
        for (const t of terms.slice(1)) line(`${name} += ${t};`)
      }
    }
    graph.inputs.forEach((input, i) => {
      line(`results[${rowIndex(plan, k, i)}u * s + b] = ${adj[graph.inputNode(input)] ?? '0.0'};`)
    })
  })

  return [
    `// wavegrad fused kernel: ${levels.liveCount} nodes, ${levels.depth + 1} wavefronts, ${graph.inputs.length} input(s), ${graph.outputs.length} output(s)`,
    ...wgslPrelude(helpers),
    '',
    `@compute @workgroup_size(${plan.workgroupSize})`,
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>) {',
    ...body,
    '}',
    '',
  ].join('\n')
}

/**
 * WGSL name (or literal) of each live node: constants inline, named nodes v_<name> (first claim
 * wins), the rest t<id>.
 */
function nodeNames(levels: Levels): string[] {
  const { graph, order } = levels
  const names: string[] = new Array(graph.nodeCount)
  const taken = new Set<string>()
  for (const id of order) {
    if (graph.kind(id) === 'const') {
      // Negative literals are parenthesised: `-` followed by `-1.0` would lex as `--`.
      const v = graph.constValue(id)
      names[id] = v < 0 || Object.is(v, -0) ? `(${wgslFloat(v)})` : wgslFloat(v)
      continue
    }
    const label = graph.label(id)
    const want = label !== undefined ? `v_${label}` : undefined
    if (want !== undefined && !taken.has(want)) {
      taken.add(want)
      names[id] = want
    } else {
      names[id] = `t${id}`
    }
  }
  return names
}
