/**
 * The bindings of `wavegrad eval`. In: the parsed program, --batch/--range/--seed or --inputs
 * files, --set values, the backend's number width, the memory limit. Out: one array (or number)
 * per input, the batch size and a line saying where they came from — after checking that the whole
 * run fits in memory, before any array with one element per binding is allocated.
 */
import type { Graph } from '../index.js'
import { InputError, parseNumber, type Columns } from './columns.js'
import { generateColumn, parseBatch, parseRanges } from './generate.js'
import { inputSpec, matchColumns, readInputs } from './io.js'
import { checkMemory, type MemoryTerm } from './memory.js'
import type { Row } from './run.js'
import { didYouMean, UsageError } from './usage.js'

/** How a run will hold its numbers: what the memory check counts. */
export interface Layout {
  /** 4 (gpu, auto: float32 inputs and results) or 8 (cpu: float64). */
  readonly bytes: 4 | 8
  /** Result rows per binding: per output its value and one Jacobian entry per non-parameter input. */
  readonly rows: number
  /** --check-all keeps a float64 reference row per result row. */
  readonly checkAll: boolean
  /** Bytes that do not grow with the batch past a chunk (engine chunks, check sample, write buffers). */
  readonly fixed: (size: number, arrays: number) => number
  readonly limit: number
}

/** Per-binding terms of a run with `arrays` input columns (`parsed` of them first read as float64). */
export function memoryTerms(layout: Layout, arrays: number, parsed = 0): MemoryTerm[] {
  return [
    { count: arrays, bytes: layout.bytes, what: 'inputs' },
    { count: parsed, bytes: 8, what: 'inputs as read' },
    { count: layout.rows, bytes: layout.bytes, what: 'rows' },
    { count: layout.checkAll ? layout.rows : 0, bytes: 8, what: 'reference rows' },
  ]
}

/**
 * Parses --set values: `name=number`, each an input of the program.
 *
 * @example
 * parseSets(['w=0.5'], ['x', 'w'], false)   // { w: 0.5 }
 */
export function parseSets(specs: readonly string[], inputs: readonly string[], allowNaN: boolean): Record<string, number> {
  const sets: Record<string, number> = {}
  for (const spec of specs) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+)$/.exec(spec)
    // The same numbers as input files hold (parseNumber: no blanks, no 0x10).
    const v = m ? parseNumber(m[2]!) : undefined
    if (!m || v === undefined) throw new UsageError(`--set wants NAME=NUMBER (e.g. --set w=0.5), got '${spec}'`)
    if (!allowNaN && !Number.isFinite(v)) throw new UsageError(`--set ${m[1]} is ${v}; pass --allow-nan to bind NaN or infinite values`)
    if (!inputs.includes(m[1]!)) throw new UsageError(`--set names '${m[1]}', which is not an input (the program's inputs are: ${inputs.join(', ') || 'none'})${didYouMean(m[1]!, inputs)}`)
    if (m[1]! in sets) throw new UsageError(`--set gives '${m[1]}' twice`)
    sets[m[1]!] = v
  }
  return sets
}

export interface BindingOptions {
  readonly batch?: string
  readonly range?: readonly string[]
  readonly seed: number
  readonly inputs?: readonly string[]
  readonly sets: Readonly<Record<string, number>>
  readonly allowNaN: boolean
}

/** The bindings of a run: generated or read, checked against memory, in the backend's width. */
export function makeBindings(graph: Graph, o: BindingOptions, layout: Layout): { bindings: Record<string, Row | number>; size: number; source: string } {
  const { inputs } = graph
  const free = inputs.filter((n) => !(n in o.sets))
  const f32 = layout.bytes === 4
  const usage = <T>(f: () => T): T => {
    try {
      return f()
    } catch (e) {
      throw e instanceof InputError ? new UsageError(e.message) : e
    }
  }
  if (o.inputs === undefined) {
    const asked = usage(() => parseBatch(o.batch!))
    const unset = free.filter((n) => graph.isParam(n))
    if (unset.length) throw new UsageError(`parameter${unset.length > 1 ? 's' : ''} ${unset.map((p) => `'${p}'`).join(', ')} take${unset.length > 1 ? '' : 's'} one number for the whole batch: --set ${unset[0]}=NUMBER`)
    // A program whose inputs are all --set (or that has none) has exactly one binding, whatever --batch says.
    const size = free.length ? asked : 1
    const ranged = (o.range ?? []).map((r) => /^\s*([A-Za-z_][A-Za-z0-9_]*)=/.exec(r)?.[1]).find((n) => n !== undefined && n in o.sets)
    if (ranged !== undefined) throw new UsageError(`--range ${ranged}=… and --set ${ranged}=… both bind '${ranged}'; give one`)
    const ranges = usage(() => parseRanges(o.range ?? [], free))
    checkMemory(`--batch ${o.batch}`, memoryTerms(layout, free.length), size, layout.fixed(size, free.length), layout.limit)
    const bindings: Record<string, Row | number> = { ...o.sets }
    // The CPU engine computes in float64: its inputs (the same float32 numbers) are stored as float64.
    for (const n of free) bindings[n] = generateColumn(inputs.indexOf(n), size, ranges[n]!, o.seed, !f32)
    const shown = free.map((n) => `${n} in [${ranges[n]![0]}, ${ranges[n]![1]}]`).join(', ')
    return { bindings, size, source: `generated: uniform float32, seed ${o.seed}${shown ? `; ${shown}` : ''}${setText(o.sets)}` }
  }
  // Columns from every --inputs value; a results file's own columns (outputs, d<out>/d<in>) are skipped.
  const results = graph.outputs.flatMap((out) => [out, ...inputs.map((i) => `d${out}/d${i}`)])
  const columns: Columns = {}
  const from: Record<string, string> = {}
  let size = -1
  let sized = ''
  for (const spec of o.inputs) {
    const path = inputSpec(spec).path
    const reserve = (rows: number, count: number, more = false) => checkMemory(`--inputs ${spec}${more ? ` (at ${rows.toLocaleString('en-US')} rows and still reading)` : ''}`, memoryTerms(layout, count, path.toLowerCase().endsWith('.npy') || path.toLowerCase().endsWith('.f32') ? 0 : count), rows, layout.fixed(rows, count), layout.limit)
    const read = readInputs(spec, { allowNaN: o.allowNaN, float32: f32, reserve })
    for (const [name, col] of Object.entries(read)) {
      if (results.includes(name) || name in o.sets) continue
      if (name in columns) throw new InputError(`input '${name}' comes from both ${from[name]} and ${spec}`)
      columns[name] = col
      from[name] = spec
      if (typeof col === 'number') continue
      if (size >= 0 && col.length !== size) throw new InputError(`${spec} has ${col.length} binding${col.length === 1 ? '' : 's'} ('${name}'), ${sized} has ${size}`)
      size = col.length
      sized = spec
    }
  }
  const label = o.inputs.join(', ')
  const matched = matchColumns(columns, free, label)
  const bindings: Record<string, Row | number> = { ...o.sets }
  for (const n of free) {
    let col = matched[n]!
    if (typeof col !== 'number' && graph.isParam(n)) {
      // A parameter column (a results file's, say) is fine when it holds one number throughout.
      const first = col[0]
      if (col.length === 0 || !col.every((v) => Object.is(v, first))) throw new InputError(`${from[n]}: parameter '${n}' takes one number for the whole batch, and this column holds different numbers; give it with --set ${n}=NUMBER`)
      col = first!
    }
    bindings[n] = typeof col === 'number' || !f32 || col instanceof Float32Array ? col : Float32Array.from(col)
  }
  const arrays = Object.values(bindings).filter((v) => typeof v !== 'number').length
  size = arrays ? size : 1
  checkMemory(`--inputs ${label}`, memoryTerms(layout, arrays), size, layout.fixed(size, arrays), layout.limit)
  return { bindings, size, source: `from ${label}${f32 ? ' (rounded to float32)' : ''}${setText(o.sets)}` }
}

function setText(sets: Readonly<Record<string, number>>): string {
  const names = Object.keys(sets)
  return names.length ? `; ${names.map((n) => `${n} = ${sets[n]}`).join(', ')} for every binding (--set)` : ''
}
