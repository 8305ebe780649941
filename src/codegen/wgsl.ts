/**
 * emitWgsl: Plan -> WGSL compute shaders. In: a plan (its program: one forward graph whose row
 * nodes are the values and Jacobian entries). Out: one kernel per segment, in which each thread
 * takes one binding, computes every node of its range of the schedule as one `let` each, stores the
 * values later segments read in the scratch buffer, and writes the rows whose nodes it holds.
 *
 * Invariants: three-address code — every node is one statement, its op's template applied to names
 * and literals, so an expression nests no deeper than the deepest template of the op table whatever
 * the graph's shape (test/core/shapes.test.ts holds every emitted kernel to 64); names follow the
 * source (v_<name> for a named node, t<id> otherwise); constants are inlined as f32 literals.
 */
import { OPS, wgslFloat, type OpSpec } from '../ops.js'
import type { Plan } from '../plan.js'
import { wgslPrelude } from './prelude.js'

/** One kernel of a plan, in dispatch order. */
export interface KernelSource {
  /** Index in plan.kernels. */
  readonly segment: number
  readonly wgsl: string
}

/**
 * WGSL of a whole plan as one kernel, whatever its segments (exportKernel's).
 *
 * @example
 * emitWgsl(planKernels(programOf(parse('f = x * y'))))  // '... let v_f = (v_x * v_y); ...'
 */
export function emitWgsl(plan: Plan): string {
  return emit(plan, undefined, nodeNames(plan))
}

/**
 * Every kernel of a plan, in the order they run on each tile: one per segment.
 *
 * @example
 * kernelSources(planKernels(programOf(g), { segmentCost: 100 })).length   // plan.kernels.length
 */
export function kernelSources(plan: Plan): KernelSource[] {
  if (plan.kernels.length === 1 || !plan.scratch) return [{ segment: 0, wgsl: emitWgsl(plan) }]
  const names = nodeNames(plan)
  return plan.kernels.map((_, segment) => ({ segment, wgsl: emit(plan, segment, names) }))
}

/** The WGSL of the whole plan (segment undefined) or of one segment; `names` from nodeNames. */
function emit(plan: Plan, segment: number | undefined, names: readonly string[]): string {
  const { program } = plan
  const { graph, schedule } = program.levels
  const layout = segment === undefined ? undefined : plan.scratch
  const range = segment === undefined ? { start: 0, end: schedule.length } : plan.kernels[segment]!
  const isOp = (id: number) => graph.kind(id) !== 'input' && graph.kind(id) !== 'const'
  // Inputs and constants belong to segment 0 (their rows are written there); op nodes to their range.
  const mine = (id: number) => !layout || (isOp(id) ? layout.segment[id] === segment : segment === 0)
  const cell = (row: number) => `scratch[${row}u * s + b]`

  const helpers = new Set<string>()
  const body: string[] = []
  const line = (s: string) => body.push(`  ${s}`)
  line('let b = gid.x + gid.y * params.row;')
  line('if (b >= params.n) { return; }')
  line('let s = params.stride;')

  // What the range reads: inputs (all of them for the whole plan), and earlier segments' values.
  const reads = new Set<number>()
  const crossing = new Set<number>()
  if (layout) {
    for (let i = range.start; i < range.end; i++) {
      for (const a of graph.args(schedule[i]!)) {
        if (graph.kind(a) === 'input') reads.add(a)
        else if (isOp(a) && !mine(a)) crossing.add(a)
      }
    }
    program.rowNodes.forEach((node) => {
      if (graph.kind(node) === 'input' && mine(node)) reads.add(node)
    })
  }
  graph.inputs.forEach((name, k) => {
    const id = graph.inputNode(name)
    if (!layout || reads.has(id)) line(`let ${names[id]} = inputs[${k}u * s + b * steps[${k}]];`)
  })
  if (crossing.size) {
    line('// values from earlier segments')
    for (const id of [...crossing].sort((x, y) => x - y)) line(`let ${names[id]} = ${cell(layout!.valueRow[id]!)};`)
  }
  line('// one statement per node, in schedule order')
  const constOf = (id: number): number | undefined => (graph.kind(id) === 'const' ? graph.constValue(id) : undefined)
  for (let i = range.start; i < range.end; i++) {
    const id = schedule[i]!
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    const spec: OpSpec = OPS[kind]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const args = graph.args(id)
    line(`let ${names[id]} = ${spec.wgsl(args.map((a) => names[a]!), args.map(constOf))};`)
  }
  if (layout) {
    const stores: string[] = []
    for (let i = range.start; i < range.end; i++) {
      const id = schedule[i]!
      if (layout.valueRow[id]! >= 0) stores.push(`${cell(layout.valueRow[id]!)} = ${names[id]};`)
    }
    if (stores.length) line('// values later segments read')
    for (const s of stores) line(s)
  }
  line('// rows')
  program.rowNodes.forEach((node, r) => {
    if (mine(node)) line(`results[${r}u * s + b] = ${names[node]};`)
  })

  const what = segment === undefined ? `${program.levels.liveCount} nodes` : `segment ${segment + 1} of ${plan.kernels.length}, ${range.end - range.start} of ${program.levels.liveCount} nodes`
  return [
    `// wavegrad kernel: ${what}, ${graph.inputs.length} input(s), ${program.rows.length} row(s)`,
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
function nodeNames(plan: Plan): string[] {
  const { graph, schedule } = plan.program.levels
  const names: string[] = new Array(graph.nodeCount)
  const taken = new Set<string>()
  for (const id of schedule) {
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
