/**
 * emitWgsl: Plan + Levels -> one WGSL compute shader. In: a levelized graph and its plan. Out: WGSL
 * source in which each thread takes one binding, computes every live node as a `let` in wavefront
 * order, then for each output runs the reverse sweep, gathering each adjoint from its consumers in
 * registers (no atomics, no scratch memory), and writes the value and Jacobian rows of plan.rows
 * (only the value rows for a values-only plan). kernelSources: the same for a segmented plan, one
 * kernel per segment and phase, with what crosses a cut in the scratch buffer (plan.ts).
 *
 * Invariants: names follow the source (v_<name> for a named node, t<id> otherwise; adjoints
 * d<output index>_<same>); constants are inlined as f32 literals; every expression is one op deep,
 * except sums of adjoint terms, which are split into `+=` statements beyond a few terms (Tint
 * rejects nesting deeper than 512). A term whose adjoint is 0 contributes 0 even if its partial is
 * infinite, as in the CPU reference.
 */
import { adjointSchedule, type AdjointStep, type Levels } from '../levelize.js'
import { OPS, wgslFloat, type OpSpec } from '../ops.js'
import { rowIndex, type Plan, type ScratchLayout } from '../plan.js'
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
  return emit(levels, plan, undefined, nodeNames(levels))
}

/** Which half of a segment's work a kernel does (see kernelSources). */
export type Phase = 'forward' | 'reverse'

/** One kernel of a plan, in dispatch order. */
export interface KernelSource {
  /** Index in plan.kernels. */
  readonly segment: number
  readonly phase: Phase
  readonly wgsl: string
}

/**
 * Every kernel of a plan, in the order they run on each tile: one kernel for an unsegmented plan
 * (emitWgsl's); for S segments, the forward kernels of segments 0 .. S-2 (each stores the values
 * later segments read; a segment storing nothing has none), then the reverse kernels of S-1 .. 0
 * (each recomputes its segment's values, writes its outputs' value rows, runs its part of every
 * reverse sweep and passes partial adjoints of earlier nodes back through the scratch; segment 0
 * writes the Jacobian rows). A values-only plan's segments have forward kernels only, 0 .. S-1,
 * each also writing the value rows of the outputs it holds (a segment with neither has none).
 *
 * @example
 * kernelSources(lv, planKernels(lv, { segmentCost: 100 })).map((k) => k.phase)  // ['forward', 'reverse', 'reverse']
 */
export function kernelSources(levels: Levels, plan: Plan): KernelSource[] {
  const { graph } = levels
  const count = plan.kernels.length
  if (count === 1 || !plan.scratch) return [{ segment: 0, phase: 'reverse', wgsl: emitWgsl(levels, plan) }]
  const out: KernelSource[] = []
  const layout = plan.scratch
  const names = nodeNames(levels)
  // Each output's reverse sweep, split by segment once (not filtered again for every segment, which
  // made 600 kernels of a 10^5-node graph take 9 s): a step belongs to its node's segment and to
  // each segment holding one of its users (those pass terms back to the node through the scratch).
  const steps = layout.schedules.map((schedule) => {
    const bySegment: AdjointStep[][] = Array.from({ length: count }, () => [])
    for (const step of schedule) {
      let last = -1
      for (const s of [layout.segment[step.node]!, ...step.users.map((u) => layout.segment[u.user]!)].sort((a, b) => a - b)) {
        if (s >= 0 && s !== last) bySegment[s]!.push(step)
        last = s
      }
    }
    return bySegment
  })
  // A segment whose values no later segment reads needs no forward kernel.
  const stores = (k: number) => {
    for (let i = plan.kernels[k]!.start; i < plan.kernels[k]!.end; i++) if (layout.valueRow[levels.order[i]!]! >= 0) return true
    return false
  }
  const kernel = (index: number, phase: Phase) =>
    out.push({ segment: index, phase, wgsl: emit(levels, plan, { index, phase, layout, steps: phase === 'forward' ? [] : steps.map((bySegment) => bySegment[index]!) }, names) })
  if (!plan.jacobian) {
    // Values only: forward kernels alone, in order; each also writes the value rows of its outputs.
    const owns = (k: number) => graph.outputs.some((o) => layout.segment[graph.outputNode(o)] === k)
    for (let k = 0; k < count; k++) if (stores(k) || owns(k)) kernel(k, 'forward')
    return out
  }
  for (let k = 0; k + 1 < count; k++) if (stores(k)) kernel(k, 'forward')
  for (let k = count - 1; k >= 0; k--) kernel(k, 'reverse')
  return out
}

interface SegmentTarget {
  readonly index: number
  readonly phase: Phase
  readonly layout: ScratchLayout
  /** Per output, the steps of its reverse sweep this segment takes part in, in sweep order. */
  readonly steps: readonly (readonly AdjointStep[])[]
}

/** The WGSL of the whole graph (seg undefined) or of one segment's phase; `names` from nodeNames. */
function emit(levels: Levels, plan: Plan, seg: SegmentTarget | undefined, names: readonly string[]): string {
  const { graph, order } = levels
  const constOf = (id: number): number | undefined => (graph.kind(id) === 'const' ? graph.constValue(id) : undefined)
  const argsOf = (id: number) => graph.args(id).map((a) => names[a]!)
  const specOf = (id: number): OpSpec => OPS[graph.kind(id) as keyof typeof OPS]
  const layout = seg?.layout
  const range = seg ? plan.kernels[seg.index]! : { start: 0, end: order.length }
  const mine = (id: number) => !layout || layout.segment[id] === seg!.index
  const cell = (row: number) => `scratch[${row}u * s + b]`

  const helpers = new Set<string>()
  const body: string[] = []
  const line = (s: string) => body.push(`  ${s}`)

  line('let b = gid.x + gid.y * params.row;')
  line('if (b >= params.n) { return; }')
  line('let s = params.stride;')
  // Inputs: every one for the whole graph; a segment loads those it reads.
  const wanted = new Set<number>()
  const crossing = new Set<number>()
  if (layout) {
    for (let i = range.start; i < range.end; i++) {
      const id = order[i]!
      for (const a of graph.args(id)) {
        if (graph.kind(a) === 'input') wanted.add(a)
        else if (layout.valueRow[a]! >= 0 && !mine(a)) crossing.add(a)
      }
    }
    // Outputs that are inputs: their value rows are written by the segment holding them (0).
    if (seg!.phase === 'reverse' || !plan.jacobian) for (const o of graph.outputs) if (graph.kind(graph.outputNode(o)) === 'input' && mine(graph.outputNode(o))) wanted.add(graph.outputNode(o))
  }
  graph.inputs.forEach((name, k) => {
    const id = graph.inputNode(name)
    if (!layout || wanted.has(id)) line(`let ${names[id]} = inputs[${k}u * s + b * steps[${k}]];`)
  })
  if (crossing.size) {
    line('// values from earlier segments')
    for (const id of [...crossing].sort((x, y) => x - y)) line(`let ${names[id]} = ${cell(layout!.valueRow[id]!)};`)
  }
  line('// forward, in wavefront order')
  for (let i = range.start; i < range.end; i++) {
    const id = order[i]!
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    const spec = specOf(id)
    for (const h of spec.helpers ?? []) helpers.add(h)
    line(`let ${names[id]} = ${spec.wgsl(argsOf(id), graph.args(id).map(constOf), names[id]!)};`)
  }
  if (seg?.phase === 'forward') {
    line('// values later segments read')
    for (let i = range.start; i < range.end; i++) {
      const id = order[i]!
      if (layout!.valueRow[id]! >= 0) line(`${cell(layout!.valueRow[id]!)} = ${names[id]};`)
    }
  }
  if (!plan.jacobian) {
    line('// values only')
    graph.outputs.forEach((output, k) => {
      if (mine(graph.outputNode(output))) line(`results[${rowIndex(plan, k)}u * s + b] = ${names[graph.outputNode(output)]};`)
    })
  } else if (seg?.phase !== 'forward') {
    graph.outputs.forEach((output, k) => reverse(output, k))
  }

  function reverse(output: string, k: number): void {
    const out = graph.outputNode(output)
    const ownsOutput = mine(out)
    line(ownsOutput ? `// ${output}: value, then reverse sweep` : `// ${output}: reverse sweep`)
    if (ownsOutput) line(`results[${rowIndex(plan, k)}u * s + b] = ${names[out]};`)
    const adj = new Map<number, string>()
    const schedule = seg ? seg.steps[k]! : adjointSchedule(levels, out)
    for (const { node, seed, users } of schedule) {
      // (A segment's steps hold no node of a later one: a user never precedes its argument.)
      const here = mine(node)
      const terms: string[] = seed && here ? ['1.0'] : []
      for (const { user, slot } of users) {
        const g = adj.get(user)
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
      const row = layout?.adjointRow[k]!.get(node)
      if (!here) {
        // A node of an earlier segment: pass this segment's terms back through the scratch.
        if (terms.length === 0) continue
        const first = layout!.firstWriter[k]!.get(node) === seg!.index
        line(`${cell(row!)} = ${first ? '' : `${cell(row!)} + `}${terms.length > 1 ? `(${terms.join(' + ')})` : terms[0]};`)
        continue
      }
      if (row !== undefined) terms.push(cell(row))
      if (terms.length === 0) continue
      // d<k>_<source name> for named nodes, d<k>t<id> for the rest: never the same name twice.
      const name = names[node]!.startsWith('v_') ? `d${k}_${names[node]!.slice(2)}` : `d${k}${names[node]}`
      adj.set(node, name)
      if (terms.length <= TERMS_PER_EXPRESSION) {
        line(`let ${name} = ${terms.join(' + ')};`)
      } else {
        line(`var ${name} = ${terms[0]};`)
        for (const t of terms.slice(1)) line(`${name} += ${t};`)
      }
    }
    // The Jacobian rows: inputs are in the first segment.
    if (layout && seg!.index !== 0) return
    graph.inputs.forEach((input, i) => {
      line(`results[${rowIndex(plan, k, i)}u * s + b] = ${adj.get(graph.inputNode(input)) ?? '0.0'};`)
    })
  }

  const what = seg ? `segment ${seg.index + 1} of ${plan.kernels.length} (${seg.phase}), ${range.end - range.start} of ${levels.liveCount} nodes` : `${levels.liveCount} nodes`
  return [
    `// wavegrad fused kernel: ${what}, ${levels.depth + 1} wavefronts, ${graph.inputs.length} input(s), ${graph.outputs.length} output(s)`,
    ...wgslPrelude(helpers),
    ...(layout ? [`@group(1) @binding(0) var<storage, read_write> scratch: array<f32>;`] : []),
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
