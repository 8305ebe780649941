/**
 * emitJs: Program -> compiled JavaScript over the batch. In: a program (program.ts: forward nodes,
 * then each output's reverse sweep, as one forward graph). Out: straight-line float64 code that, per
 * binding, computes every node of the schedule and stores the row nodes' values.
 *
 * Shape: the statements are cut into chunk functions of at most CHUNK statements, because V8 leaves
 * one huge function unoptimized (a 700-node graph as one function ran ~100x slower). Inside a chunk
 * every value is a local (a register or a stack slot); only a value that a later chunk reads
 * crosses, through a scratch row of BLOCK bindings, and the chunks run in turn over each block of
 * BLOCK bindings (so the scratch stays in cache and a call costs nothing per binding; a graph with
 * so many crossing values that the scratch would outgrow SCRATCH_BYTES runs fewer bindings a
 * block). A graph of one chunk runs straight over the whole range with no scratch. Statements call
 * the op table's own eval closures (each call site sees one function, so V8 inlines it), so this
 * cannot drift from the CPU reference: same formulas, same order, equal to the last bit. Used by the
 * CPU engine and as the benchmark baseline.
 */
import { rowsByNode, type Program } from '../program.js'
import { OPS, type OpSpec } from '../ops.js'

/** inputs[k][i] (or inputs[k] itself, a number for every binding) and rows[r][i], i in [start, start + len). */
export type CompiledJs = (inputs: readonly (ArrayLike<number> | number)[], rows: readonly FloatRow[], start: number, len: number) => void

/** A result row: float64, or float32 (each value rounded once, when stored). */
export type FloatRow = Float64Array | Float32Array

/**
 * Up to this many statements the loop body is one function with locals (2x faster at ~100 nodes
 * than chunks); beyond it V8 stops optimizing the body.
 */
const SINGLE_BODY = 1000
/**
 * Statements per chunk function beyond SINGLE_BODY: small enough that V8 inlines every op closure
 * it calls (1.2x faster at ~1,000 nodes than chunks of 200 called per binding, measured).
 */
const CHUNK = 48
/** Bindings per pass through the chunks: the scratch (crossing values × BLOCK doubles) stays in L1/L2 (128 was 1.4x slower at ~1,000 nodes). */
const BLOCK = 32
/** The scratch's bound: a graph with more crossing values runs fewer bindings per pass (down to one). */
const SCRATCH_BYTES = 4 << 20

/**
 * A statement: `parts` joined, each number a variable (its value at this point), defining variable
 * `def` (or nothing: a store to a result row).
 */
interface Stmt {
  def: number
  parts: (string | number)[]
  row?: number
}

/**
 * Compiles a program to a JS function that fills its rows for a range of bindings.
 *
 * @example
 * const run = emitJs(programOf(parse('f = x*y')))
 * const rows = [new Float64Array(1), new Float64Array(1), new Float64Array(1)]
 * run([[2], [3]], rows, 0, 1)   // rows = [[6], [3], [2]]
 */
export function emitJs(program: Program): CompiledJs {
  const { graph, schedule } = program.levels
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
  // Variables: 0 .. inputs - 1 are the inputs (read from the caller's arrays where used); each
  // statement defining a value makes a new one.
  let vars = graph.inputs.length
  const valueVar = new Int32Array(graph.nodeCount).fill(-1)
  graph.inputs.forEach((input, k) => (valueVar[graph.inputNode(input)] = k))
  const val = (id: number): string | number => (graph.kind(id) === 'const' ? numberLiteral(graph.constValue(id)) : valueVar[id]!)

  // Every node of the schedule, each row stored right after its node (or at once: inputs, constants).
  const rowsOf = rowsByNode(program)
  const stmts: Stmt[] = []
  const store = (id: number) => {
    for (const row of rowsOf.get(id) ?? []) stmts.push({ def: -1, row, parts: [val(id)] })
  }
  for (const id of schedule) {
    const kind = graph.kind(id)
    if (kind !== 'input' && kind !== 'const') {
      valueVar[id] = vars++
      const spec: OpSpec = OPS[kind]
      const parts: (string | number)[] = [`${ref(spec.eval)}(`]
      graph.args(id).forEach((a, k) => parts.push(...(k ? [', ', val(a)] : [val(a)])))
      parts.push(')')
      stmts.push({ def: valueVar[id]!, parts })
    }
    store(id)
  }

  // Chunks, and the variables that cross from one chunk to a later one (each a scratch row).
  const size = stmts.length <= SINGLE_BODY ? Math.max(stmts.length, 1) : CHUNK
  const chunkOf = (s: number) => Math.floor(s / size)
  const chunks = Math.ceil(stmts.length / size) || 1
  const lastUse = new Int32Array(vars).fill(-1)
  stmts.forEach((st, s) => {
    for (const p of st.parts) if (typeof p === 'number') lastUse[p] = chunkOf(s)
  })
  // Scratch rows: a crossing variable takes a free row from its chunk to its last reader's, then
  // gives it back (rows freed by chunk c are taken again from chunk c + 1 on).
  const scratchRow = new Int32Array(vars).fill(-1)
  const free: number[] = []
  let rowsUsed = 0
  const freedAfter: number[][] = Array.from({ length: chunks }, () => [])
  for (let c = 0; c < chunks; c++) {
    if (c > 0) for (const row of freedAfter[c - 1]!) free.push(row)
    for (let s = c * size; s < Math.min(stmts.length, (c + 1) * size); s++) {
      const d = stmts[s]!.def
      if (d < 0 || lastUse[d]! <= c) continue
      scratchRow[d] = free.length ? free.pop()! : rowsUsed++
      freedAfter[lastUse[d]!]!.push(scratchRow[d]!)
    }
  }

  const variant = (numbers: readonly boolean[]): CompiledJs => {
    const single = chunks === 1
    const block = Math.max(1, Math.min(BLOCK, 2 ** Math.floor(Math.log2(SCRATCH_BYTES / 8 / Math.max(rowsUsed, 1)))))
    const at = (row: number) => (single ? 'i' : `${row * block} + j`)
    const bodies: string[] = []
    for (let c = 0; c < chunks; c++) {
      const lines = stmts.slice(c * size, (c + 1) * size)
      // The outside values (inputs, earlier chunks' values) this chunk reads.
      const outside = new Set<number>()
      const defined = new Set<number>()
      for (const st of lines) {
        for (const p of st.parts) if (typeof p === 'number' && !defined.has(p)) outside.add(p)
        if (st.def >= 0) defined.add(st.def)
      }
      // (A statement reads at most three values, so a chunk hoists at most 3·CHUNK of them into
      // locals, or for a single body its inputs.)
      const inputs = [...outside].filter((v) => v < graph.inputs.length)
      const read = (v: number) => (v >= graph.inputs.length ? `X[${at(scratchRow[v]!)}]` : numbers[v] ? `I${v}` : `I${v}[i]`)
      const rows = new Set<number>()
      const body: string[] = []
      for (const st of lines) {
        const expr = st.parts.map((p) => (typeof p !== 'number' ? p : `t${p}`)).join('')
        if (st.def < 0) {
          rows.add(st.row!)
          body.push(`R${st.row}[i] = ${expr};`)
          continue
        }
        body.push(`const t${st.def} = ${expr};`)
        if (scratchRow[st.def]! >= 0) body.push(`X[${at(scratchRow[st.def]!)}] = t${st.def};`)
      }
      const head = [...outside].map((v) => `const t${v} = ${read(v)};`)
      bodies.push([
        'function (inputs, R, X, start, len) {',
        ...inputs.map((k) => `const I${k} = inputs[${k}];`),
        ...[...rows].map((r) => `const R${r} = R[${r}];`),
        single ? 'for (let i = start, end = start + len; i < end; i++) {' : 'for (let j = 0; j < len; j++) {\nconst i = start + j;',
        ...head,
        ...body,
        '}',
        '}',
      ].join('\n'))
    }
    const source = [
      ...fns.map((_, i) => `const F${i} = fns[${i}];`),
      `const chunks = [${bodies.join(',\n')}];`,
      single
        ? 'return chunks[0];'
        : [
            `const X = new Float64Array(${Math.max(rowsUsed, 1) * block});`,
            'return function run(inputs, R, start, len) {',
            `  for (let b = start, end = start + len; b < end; b += ${block}) {`,
            `    const n = Math.min(${block}, end - b);`,
            '    for (let c = 0; c < chunks.length; c++) chunks[c](inputs, R, X, b, n);',
            '  }',
            '}',
          ].join('\n'),
    ].join('\n')
    const compiled = new Function('fns', source)(fns) as (inputs: unknown, R: unknown, X: unknown, start: number, len: number) => void
    return single ? (inputs, rows, start, len) => compiled(inputs, rows, undefined, start, len) : (compiled as unknown as CompiledJs)
  }
  // One function per pattern of broadcast inputs (a number for every binding, or an array): reading
  // `typeof I === 'number' ? I : I[i]` per binding made a small graph's loop 2x slower.
  const variants = new Map<string, CompiledJs>()
  return (inputs, rows, start, len) => {
    let key = ''
    for (let k = 0; k < inputs.length; k++) key += typeof inputs[k] === 'number' ? 'n' : 'a'
    let run = variants.get(key)
    if (!run) variants.set(key, (run = variant(Array.from(key, (c) => c === 'n'))))
    run(inputs, rows, start, len)
  }
}

function numberLiteral(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}
