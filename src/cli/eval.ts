/**
 * `wavegrad eval`. In: argv after the command. Out: on stdout the program, its bindings, the
 * backend, the run's throughput, optionally the check against the float64 reference, parameter
 * gradients, and the first rows (or the path written by --out); exit code 0, or 1 when the check
 * fails. Memory is checked before bindings are allocated (bindings.ts).
 */
import { readFileSync, statSync } from 'node:fs'
import { parse, ParseError, UNTRUSTED_TEXT, type GpuEngineOptions, type Graph } from '../index.js'
import { makeBindings, parseSets, type Layout } from './bindings.js'
import { InputError } from './columns.js'
import { formatF32, formatOf, inputSpec, resultColumns, writeResults, type ResultTable } from './io.js'
import { defaultMemoryLimit, parseMemory } from './memory.js'
import { Progress } from './progress.js'
import { checkAgainstReference, CPU_CHUNK, evaluateChunked, GPU_CHUNK, openRunner } from './run.js'
import { EVAL_OPTIONS, parseCommandLine, UsageError, USAGE } from './usage.js'

/** Bindings checked by --check (evenly spaced over the batch). */
const CHECK_SAMPLE = 1 << 16
/** Bytes of one block of output being formatted (CSV text, .npy records, JSON numbers). */
const WRITE_BUFFER = 1 << 15

const out = (line = '') => process.stdout.write(`${line}\n`)
const fmtInt = (n: number) => n.toLocaleString('en-US')
const plural = (n: number, word: string) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`

/** The program text and where it came from (for error messages). */
function loadProgram(arg: string): { text: string; origin: string } {
  if (arg === '-') return { text: readFileSync(0, 'utf8'), origin: '<stdin>' }
  let isFile = false
  try {
    isFile = statSync(arg).isFile()
  } catch {
    isFile = false
  }
  if (isFile) return { text: readFileSync(arg, 'utf8'), origin: arg }
  // A word with an extension or a path prefix and no operators is a file name, not a program.
  if (/^[\w.~/-]*\.[A-Za-z]\w*$/.test(arg) || /^(\.{0,2}\/|~\/)/.test(arg)) throw new InputError(`cannot read program file '${arg}': no such file`)
  return { text: arg, origin: '<program>' }
}

/**
 * The program as a Graph. The text may come from anyone (a downloaded file, a pasted command), so
 * parse's limits for untrusted text apply: an oversize, huge or deeply nested program is a
 * ParseError naming the limit, never a stack overflow or a run out of memory.
 */
function parseProgram(program: { text: string; origin: string }): Graph {
  try {
    return parse(program.text, UNTRUSTED_TEXT)
  } catch (e) {
    if (e instanceof ParseError) {
      // The message's own quote of the line: cut to ~100 characters around the column, however long the line.
      throw new InputError(`${program.origin}:${e.line}:${e.column}: ParseError: ${e.reason}${e.message.slice(e.message.indexOf('\n'))}`)
    }
    throw e
  }
}

function number(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} wants a number, got '${text}'`)
  return n
}

/** Runs `wavegrad eval`; returns the exit code. */
export async function evalCommand(args: string[]): Promise<number> {
  const { values: opt, positionals } = parseCommandLine(args, EVAL_OPTIONS)
  if (opt.help) {
    out(USAGE)
    return 0
  }
  if (positionals.length !== 1) throw new UsageError(`eval wants exactly one program (text or a file), got ${positionals.length}; e.g. wavegrad eval "f = x*y" --batch 1000`)
  const backend = opt.backend ?? 'gpu'
  if (backend !== 'gpu' && backend !== 'cpu' && backend !== 'auto') throw new UsageError(`--backend is gpu, cpu or auto, got '${backend}'`)
  const tier = opt.tier ?? 'fused'
  if (tier !== 'fused' && tier !== 'interpreter' && tier !== 'auto') throw new UsageError(`--tier is fused, interpreter or auto, got '${tier}'`)
  if (opt.tier !== undefined && backend !== 'gpu') throw new UsageError('--tier applies to --backend gpu only')
  if (opt.batch !== undefined && opt.inputs !== undefined) throw new UsageError('give either --batch N (generated inputs) or --inputs FILE, not both')
  if (opt.batch === undefined && opt.inputs === undefined) throw new UsageError('how many bindings? give --batch N (generated inputs) or --inputs FILE')
  if (opt.inputs !== undefined && (opt.range || opt.seed !== undefined)) throw new UsageError('--range and --seed shape generated inputs (--batch); they do not apply to --inputs')
  const outFormat = opt.out === undefined ? undefined : formatOf(opt.out)
  if (opt.out !== undefined && outFormat !== 'csv' && outFormat !== 'json' && outFormat !== 'npy') throw new UsageError(`--out must end in .csv, .json or .npy, got '${opt.out}'`)
  if (opt.progress && opt['no-progress']) throw new UsageError('--progress and --no-progress contradict each other')
  const fromStdin = (opt.inputs ?? []).filter((s) => inputSpec(s).path === '-')
  if (fromStdin.length > 1) throw new UsageError('only one --inputs can read standard input (-)')
  if (fromStdin.length && positionals[0] === '-') throw new UsageError("the program and --inputs cannot both come from standard input ('-'): put one of them in a file")
  const show = number(opt.show, 'show', 10)
  const seed = number(opt.seed, 'seed', 1)
  const check = opt.check || opt['check-all'] || false
  const tolerance = number(opt.tolerance, 'tolerance', backend === 'cpu' ? 1e-9 : 1e-3)
  const limit = opt['max-memory'] === undefined ? defaultMemoryLimit() : parseMemory(opt['max-memory'])
  if (limit === undefined) throw new UsageError(`--max-memory wants bytes with an optional unit (512M, 12G, 1.5GiB) or a share of the total memory (50%), got '${opt['max-memory']}'`)
  const allowNaN = opt['allow-nan'] ?? false
  const progress = new Progress(process.stderr, opt.progress ? { enabled: true } : opt['no-progress'] ? { enabled: false } : {})

  const program = loadProgram(positionals[0]!)
  const graph = parseProgram(program)
  const { inputs, outputs } = graph
  const sets = parseSets(opt.set ?? [], inputs, allowNaN)

  // Memory: float32 numbers on the GPU and auto engines, float64 on the CPU engine.
  const bytes = backend === 'cpu' ? 8 : 4
  const rowInputs = inputs.filter((n) => !graph.isParam(n))
  const rows = outputs.length * (1 + rowInputs.length)
  const columns = inputs.length + rows
  const chunk = backend === 'cpu' ? CPU_CHUNK : GPU_CHUNK
  const layout: Layout = {
    bytes,
    rows,
    checkAll: opt['check-all'] ?? false,
    limit,
    // A chunk's results (and on the GPU its buffers and readback), the check's sample, one output block.
    fixed: (size, arrays) => Math.min(size, chunk) * (arrays + rows) * bytes * 2 + (check ? Math.min(size, CHECK_SAMPLE) * (inputs.length + 2 * rows) * 8 : 0) + (opt.out ? WRITE_BUFFER * columns * 32 : 0),
  }
  const { bindings, size, source } = makeBindings(graph, { ...(opt.batch === undefined ? {} : { batch: opt.batch }), ...(opt.range ? { range: opt.range } : {}), ...(opt.inputs ? { inputs: opt.inputs } : {}), seed, sets, allowNaN }, layout)

  const runner = await openRunner(graph, backend, tier as NonNullable<GpuEngineOptions['tier']>)
  try {
    const params = graph.params
    out(`program   ${plural(inputs.length, 'input')} (${inputs.join(', ') || 'none'}${params.length ? `; parameters ${params.join(', ')}` : ''}) -> ${plural(outputs.length, 'output')} (${outputs.join(', ')}); ${graph.nodeCount} nodes`)
    out(`inputs    ${plural(size, 'binding')}, ${source}`)
    out(`backend   ${runner.description}`)

    // Evaluate, chunk by chunk (the engines tile internally; chunks feed the progress bar).
    progress.start('evaluating', size, 'bindings')
    const t = performance.now()
    const results = await evaluateChunked((b) => runner.run(b), bindings, size, chunk, (done) => progress.tick(done))
    const runMs = performance.now() - t
    progress.done()
    const rate = size / runMs / 1e3
    const kernel = backend === 'gpu' ? `${results.tier ?? tier} tier` : backend === 'cpu' ? 'compiled JavaScript' : `ran on ${results.backends.join(' and ')}`
    out(`kernel    ${kernel}, built in ${runner.compileMs.toFixed(0)} ms`)
    out(`run       ${runMs.toFixed(1)} ms = ${rate >= 1 ? `${rate.toFixed(1)} M` : `${fmtInt(Math.round(rate * 1e6))} `}bindings/s (${plural(rows, 'number')} per binding: values and Jacobian entries${params.length ? `; gradients of ${params.length} parameter${params.length === 1 ? '' : 's'} summed` : ''})`)

    let failed = false
    if (check) {
      const all = opt['check-all'] || size <= CHECK_SAMPLE
      const n = all ? size : CHECK_SAMPLE
      progress.start('checking', n, 'bindings')
      const c = checkAgainstReference(graph, bindings, results, size, n, (done) => progress.tick(done))
      progress.done()
      failed = !(c.maxError <= tolerance)
      out(`check     max error ${c.maxError.toExponential(2)} vs the float64 reference (evaluateCpu; compareResults' scaled error) on ${all ? `all ${fmtInt(n)}` : `${fmtInt(n)} of ${fmtInt(size)} (evenly spaced)`} bindings: ${failed ? `FAILED (tolerance ${tolerance}); worst at ${c.where}` : `ok (tolerance ${tolerance})`}`)
    }

    const table: ResultTable = { size, backend: results.backend, inputs, outputs, bindings, values: results.values, jacobian: results.jacobian, ...(results.gradients ? { gradients: results.gradients } : {}) }
    if (results.gradients) printGradients(results.gradients, size)
    if (opt.out !== undefined) {
      progress.start('writing', size, 'rows')
      const w = performance.now()
      writeResults(opt.out, table, (done) => progress.tick(done))
      const s = (performance.now() - w) / 1000
      progress.done()
      const mb = statSync(opt.out).size / 1e6
      out(`wrote     ${opt.out} (${plural(size, 'row')}, ${mb.toFixed(1)} MB in ${s.toFixed(2)} s = ${(mb / s).toFixed(0)} MB/s)`)
    } else if (show > 0) {
      out()
      printPreview(table, Math.min(size, show))
      if (size > show) out(`… ${plural(size - show, 'more row')} (write them all with --out results.csv or results.npy)`)
    }
    return failed ? 1 : 0
  } finally {
    runner.destroy()
  }
}

/** Parameter gradients (batch sums) as a table: a row per output, a column per parameter. */
export function printGradients(gradients: Readonly<Record<string, Readonly<Record<string, number>>>>, size: number): void {
  const outs = Object.keys(gradients)
  const params = [...new Set(outs.flatMap((o) => Object.keys(gradients[o]!)))]
  if (!params.length) return
  out(`gradients ∂output/∂parameter summed over ${plural(size, 'binding')}:`)
  const cells = [['', ...params.map((p) => `d/d${p}`)], ...outs.map((o) => [o, ...params.map((p) => String(gradients[o]![p] ?? ''))])]
  const widths = cells[0]!.map((_, k) => Math.max(...cells.map((r) => r[k]!.length)))
  for (const r of cells) out(`  ${r.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ')}`.trimEnd())
}

/** The first rows as an aligned table: inputs, then per output its value and d<out>/d<input>. */
function printPreview(t: ResultTable, rows: number): void {
  const show = (x: number, f32: boolean) => (f32 ? formatF32(x) : Number.isFinite(x) ? String(Number(x.toPrecision(10))) : String(x))
  const at = (a: ArrayLike<number> | number) => (i: number) => (typeof a === 'number' ? String(a) : show(a[i]!, a instanceof Float32Array))
  const cells = resultColumns(t).map((c) => [c.name, ...Array.from({ length: rows }, (_, i) => at(c.data)(i))])
  const widths = cells.map((c) => Math.max(...c.map((s) => s.length)))
  for (let r = 0; r <= rows; r++) out(cells.map((c, k) => c[r]!.padStart(widths[k]!)).join('  ').trimEnd())
}
