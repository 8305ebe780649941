/**
 * emitWgsl: Plan -> WGSL compute shaders. In: a plan (its program: one forward graph whose row
 * nodes are the values and Jacobian entries). Out: one kernel per segment, in which each thread
 * takes one binding, computes every node of its range of the schedule as one `let` each (after the
 * nodes of earlier segments the plan has it compute again), stores the values later segments load
 * in the scratch buffer, and writes the rows whose nodes it holds.
 *
 * Buffer traffic: one access per value where it is used, or — for more than plan.loopAccesses
 * inputs, rows, or values crossing a cut in one kernel — one loop moving them between the buffer and
 * a private array, because a software adapter compiles one access per value in time that grows with
 * the square of their number (1,000 scalar loads took 159 s on lavapipe, the same in a loop 2.3 s).
 *
 * Invariants: three-address code — every node is one statement, its op's template applied to names
 * and literals, so an expression nests no deeper than the deepest template of the op table whatever
 * the graph's shape (test/core/shapes.test.ts holds every emitted kernel to 64); names follow the
 * source (v_<name> for a named node, t<id> otherwise); constants are inlined as f32 literals.
 */
import { OPS, wgslFloat, type OpSpec } from '../ops.js'
import type { Plan } from '../plan.js'
import { rowsByNode } from '../program.js'
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
  const looped = (count: number) => count > plan.loopAccesses

  const helpers = new Set<string>()
  const body: string[] = []
  const decls: string[] = []
  const line = (s: string) => body.push(`  ${s}`)
  line('let b = gid.x + gid.y * params.row;')
  line('if (b >= params.n) { return; }')
  line('let s = params.stride;')

  // The kernel's statements: nodes of earlier segments it computes again (plan.ts ScratchLayout),
  // then its own range; what they read: inputs (all of them for the whole plan), and values loaded
  // from the scratch.
  const again = layout ? Array.from(layout.recompute[segment!]!) : []
  const statements = [...again]
  for (let i = range.start; i < range.end; i++) statements.push(schedule[i]!)
  const reads = new Set<number>()
  const crossing = new Set<number>(layout ? layout.loads[segment!] : [])
  if (layout) {
    for (const id of statements) for (const a of graph.args(id)) if (graph.kind(a) === 'input') reads.add(a)
    program.rowNodes.forEach((node) => {
      if (graph.kind(node) === 'input' && mine(node)) reads.add(node)
    })
  }
  // Inputs, in graph.inputs order.
  const inputs = graph.inputs.map((name, k) => ({ id: graph.inputNode(name), k })).filter(({ id }) => !layout || reads.has(id))
  if (looped(inputs.length)) {
    const table = `input_index${segment ?? ''}`
    decls.push(`const ${table} = array<u32, ${inputs.length}>(${inputs.map(({ k }) => `${k}u`).join(', ')});`)
    line(`var input_values: array<f32, ${inputs.length}>;`)
    line(`for (var j = 0u; j < ${inputs.length}u; j++) { let k = ${table}[j]; input_values[j] = inputs[k * s + b * steps[k]]; }`)
    inputs.forEach(({ id }, j) => line(`let ${names[id]} = input_values[${j}];`))
  } else {
    for (const { id, k } of inputs) line(`let ${names[id]} = inputs[${k}u * s + b * steps[${k}]];`)
  }
  // Values from earlier segments: loaded right before their first reader, or all at once by a loop.
  const crossingIds = [...crossing].sort((x, y) => x - y)
  const load = new Map<number, string>()
  if (looped(crossingIds.length)) {
    const table = `scratch_in${segment}`
    decls.push(`const ${table} = array<u32, ${crossingIds.length}>(${crossingIds.map((id) => `${layout!.valueRow[id]}u`).join(', ')});`)
    line(`var earlier: array<f32, ${crossingIds.length}>;`)
    line(`for (var j = 0u; j < ${crossingIds.length}u; j++) { earlier[j] = scratch[${table}[j] * s + b]; }`)
    crossingIds.forEach((id, j) => load.set(id, `earlier[${j}]`))
  } else {
    for (const id of crossingIds) load.set(id, `scratch[${layout!.valueRow[id]}u * s + b]`)
  }
  // What the range writes: rows (its own nodes'; inputs' and constants' in segment 0) and values
  // later segments read. Stored right after each node, or gathered for one loop at the end.
  const rowsOf = rowsByNode(program)
  const rowWrites: number[] = []
  program.rowNodes.forEach((node, r) => {
    if (mine(node)) rowWrites.push(r)
  })
  const stores: number[] = []
  if (layout) for (let i = range.start; i < range.end; i++) if (layout.valueRow[schedule[i]!]! >= 0) stores.push(schedule[i]!)
  const rowsLooped = looped(rowWrites.length)
  const storesLooped = looped(stores.length)
  const rowSlot = new Map(rowWrites.map((r, j) => [r, j]))
  const storeSlot = new Map(stores.map((id, j) => [id, j]))
  if (rowsLooped) line(`var rows: array<f32, ${rowWrites.length}>;`)
  if (storesLooped) line(`var later: array<f32, ${stores.length}>;`)
  const writeRow = (r: number, value: string) => line(rowsLooped ? `rows[${rowSlot.get(r)}] = ${value};` : `results[${r}u * s + b] = ${value};`)
  program.rowNodes.forEach((node, r) => {
    if (mine(node) && !isOp(node)) writeRow(r, names[node]!)
  })

  line(again.length ? `// one statement per node: ${again.length} of earlier segments again, then this one's` : '// one statement per node, in schedule order')
  const loaded = new Set<number>()
  const constOf = (id: number): number | undefined => (graph.kind(id) === 'const' ? graph.constValue(id) : undefined)
  for (const id of statements) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    const spec: OpSpec = OPS[kind]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const args = graph.args(id)
    for (const a of args) {
      if (load.has(a) && !loaded.has(a)) {
        loaded.add(a)
        line(`let ${names[a]} = ${load.get(a)};`)
      }
    }
    line(`let ${names[id]} = ${spec.wgsl(operands(kind, args, names), args.map(constOf))};`)
    if (storeSlot.has(id)) line(storesLooped ? `later[${storeSlot.get(id)}] = ${names[id]};` : `scratch[${layout!.valueRow[id]}u * s + b] = ${names[id]};`)
    if (mine(id)) for (const r of rowsOf.get(id) ?? []) writeRow(r, names[id]!)
  }
  if (storesLooped) {
    const table = `scratch_out${segment}`
    decls.push(`const ${table} = array<u32, ${stores.length}>(${stores.map((id) => `${layout!.valueRow[id]}u`).join(', ')});`)
    line(`for (var j = 0u; j < ${stores.length}u; j++) { scratch[${table}[j] * s + b] = later[j]; }`)
  }
  if (rowsLooped) {
    // The whole plan's rows are 0 .. R-1 in order; a segment's are listed.
    const contiguous = rowWrites.every((r, j) => r === j)
    const table = `row_index${segment ?? ''}`
    if (!contiguous) decls.push(`const ${table} = array<u32, ${rowWrites.length}>(${rowWrites.map((r) => `${r}u`).join(', ')});`)
    line(`for (var j = 0u; j < ${rowWrites.length}u; j++) { results[${contiguous ? 'j' : `${table}[j]`} * s + b] = rows[j]; }`)
  }

  const what = segment === undefined ? `${program.levels.liveCount} nodes` : `segment ${segment + 1} of ${plan.kernels.length}, ${range.end - range.start} of ${program.levels.liveCount} nodes`
  return [
    `// wavegrad kernel: ${what}, ${graph.inputs.length} input(s), ${program.rows.length} row(s)`,
    ...wgslPrelude(helpers),
    ...(layout ? [`@group(1) @binding(0) var<storage, read_write> scratch: array<f32>;`] : []),
    ...decls,
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

/**
 * Ops a compiler folds wrongly when both operands are one value: `a - a` to 0 and `a / a` to 1
 * (NaN where a is ±∞ or NaN, as in every other engine), `a == a` to true (false for NaN). WGSL lets
 * an implementation assume no ∞ or NaN, and lavapipe did fold `t - t` (the derivative of 1/(x - x)
 * came out 0, not NaN).
 */
const SAME_OPERAND_FOLDS: ReadonlySet<string> = new Set(['sub', 'div', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'])

/** A node's operand names; the repeat of a value in such an op made opaque to the compiler (params.pad is 0). */
function operands(kind: string, args: readonly number[], names: readonly (string | undefined)[]): string[] {
  const named = args.map((a) => names[a]!)
  if (!SAME_OPERAND_FOLDS.has(kind) || args.length !== 2 || args[0] !== args[1]) return named
  return [named[0]!, `bitcast<f32>(bitcast<u32>(${named[1]}) | params.pad)`]
}
