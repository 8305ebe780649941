/**
 * emitJs: Levels + Plan -> compiled JavaScript over the batch. In: a levelized graph and its plan.
 * Out: straight-line float64 code that, per binding, computes every live node and then, per output,
 * the reverse sweep gathering adjoints, writing the same rows as the GPU kernel.
 *
 * Shape: the statements (forward, shared partials, each output's sweep) are cut into chunk
 * functions of at most CHUNK statements, because V8 leaves one huge function unoptimized (a
 * 700-node graph as one function ran ~100x slower). Inside a chunk every value and adjoint is a
 * local (a register or a stack slot); only a value that a later chunk reads crosses, through a
 * scratch row of BLOCK bindings, and the chunks run in turn over each block of BLOCK bindings (so
 * the scratch stays in cache and a call costs nothing per binding; a graph with so many crossing
 * values that the scratch would outgrow SCRATCH_BYTES runs fewer bindings a block). A graph of one chunk runs
 * straight over the whole range with no scratch. Statements call the op table's own eval/partials
 * closures (each call site sees one function, so V8 inlines it), so this cannot drift from the CPU
 * reference: same formulas, same order of summation, equal to the last bit. Used by the CPU engine
 * and as the benchmark baseline.
 */
import { adjointSchedule, reachedBy, type Levels } from '../levelize.js'
import { OPS, type OpSpec } from '../ops.js'
import { rowIndex, type Plan } from '../plan.js'

/** inputs[k][i] (or inputs[k] itself, a number for every binding) and rows[r][i], i in [start, start + len). */
export type CompiledJs = (inputs: readonly (ArrayLike<number> | number)[], rows: readonly Float64Array[], start: number, len: number) => void

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
 * A chunk reading more outside values than this (a node with 10^5 users gathers them all in one
 * sum) reads them where they are used instead of into locals: a frame of 10^5 locals overflows
 * the stack.
 */
const HOIST_LIMIT = 1000

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
  // Variables: 0 .. inputs - 1 are the inputs (read from the caller's arrays where used); each
  // statement defining a value, partial or adjoint makes a new one.
  let vars = graph.inputs.length
  const valueVar = new Int32Array(graph.nodeCount).fill(-1)
  graph.inputs.forEach((input, k) => (valueVar[graph.inputNode(input)] = k))
  const val = (id: number): string | number => (graph.kind(id) === 'const' ? numberLiteral(graph.constValue(id)) : valueVar[id]!)
  const specOf = (id: number): OpSpec => OPS[graph.kind(id) as keyof typeof OPS]
  const call = (f: (...a: number[]) => number, args: (string | number)[]) => {
    const parts: (string | number)[] = [`${ref(f)}(`]
    args.forEach((a, k) => parts.push(...(k ? [', ', a] : [a])))
    parts.push(')')
    return parts
  }

  // One statement list: forward, shared partials, then the reverse sweep of each output (with its stores).
  const stmts: Stmt[] = []
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    valueVar[id] = vars++
    stmts.push({ def: valueVar[id]!, parts: call(specOf(id).eval, graph.args(id).map(val)) })
  }
  // A partial that two or more outputs' sweeps need is computed once, right after the forward
  // sweep (it does not depend on the output); the others are computed where they are used.
  const partialKey = (user: number, s: number) => user * 3 + s
  const sweeps = graph.outputs.map((output) => (plan.jacobian ? adjointSchedule(levels, graph.outputNode(output)) : []))
  const reached = sweeps.map((schedule) => reachedBy(schedule, graph.nodeCount))
  const uses = new Map<number, number>()
  sweeps.forEach((schedule, k) => {
    const seen = new Set<number>()
    for (const { users } of schedule) for (const { user, slot: s } of users) if (reached[k]![user]) seen.add(partialKey(user, s))
    for (const key of seen) uses.set(key, (uses.get(key) ?? 0) + 1)
  })
  const partialCall = (user: number, s: number) => {
    const args = graph.args(user).map(val)
    while (args.length < 3) args.push('NaN')
    return call(specOf(user).partials[s]!, [...args, valueVar[user]!])
  }
  const shared = new Map<number, number>()
  for (const [key, count] of uses) {
    if (count > 1) {
      shared.set(key, vars)
      stmts.push({ def: vars++, parts: partialCall(Math.floor(key / 3), key % 3) })
    }
  }
  graph.outputs.forEach((output, k) => {
    stmts.push({ def: -1, row: rowIndex(plan, k), parts: [val(graph.outputNode(output))] })
    if (!plan.jacobian) return
    const has = reached[k]!
    const adjoint = new Map<number, number>()
    for (const { node, seed, users } of sweeps[k]!) {
      if (!has[node]) continue
      const parts: (string | number)[] = seed ? ['1'] : []
      for (const { user, slot: s } of users) {
        if (!has[user]) continue
        const g = adjoint.get(user)!
        const at = shared.get(partialKey(user, s))
        if (parts.length) parts.push(' + ')
        parts.push('(', g, ' === 0 ? 0 : ', g, ' * ', ...(at === undefined ? partialCall(user, s) : [at]), ')')
      }
      adjoint.set(node, vars)
      stmts.push({ def: vars++, parts })
    }
    graph.inputs.forEach((input, i) => {
      const id = graph.inputNode(input)
      stmts.push({ def: -1, row: rowIndex(plan, k, i), parts: [has[id] ? adjoint.get(id)! : '0'] })
    })
  })

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
    const inputs = [...outside].filter((v) => v < graph.inputs.length)
    const inline = outside.size > HOIST_LIMIT
    const read = (v: number) =>
      v >= graph.inputs.length ? `X[${at(scratchRow[v]!)}]`
      : inline ? `(typeof inputs[${v}] === 'number' ? inputs[${v}] : +inputs[${v}][i])`
      : `typeof I${v} === 'number' ? I${v} : +I${v}[i]`
    const rows = new Set<number>()
    const body: string[] = []
    for (const st of lines) {
      const expr = st.parts.map((p) => (typeof p !== 'number' ? p : inline && outside.has(p) ? read(p) : `t${p}`)).join('')
      if (st.def < 0) {
        rows.add(st.row!)
        body.push(`R${st.row}[i] = ${expr};`)
        continue
      }
      body.push(`const t${st.def} = ${expr};`)
      if (scratchRow[st.def]! >= 0) body.push(`X[${at(scratchRow[st.def]!)}] = t${st.def};`)
    }
    const head = inline ? [] : [...outside].map((v) => `const t${v} = ${read(v)};`)
    bodies.push([
      'function (inputs, R, X, start, len) {',
      ...(inline ? [] : inputs.map((k) => `const I${k} = inputs[${k}];`)),
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

function numberLiteral(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v)
}
