#!/usr/bin/env node
/**
 * The `wavegrad` command. In: argv. Out: values and Jacobians of a program for a batch of input
 * bindings (printed, or written as CSV/JSON), with throughput, the adapter, and on request the max
 * error against the float64 reference; or the adapter's description, limits and features.
 *
 *   wavegrad eval <program | file> (--batch N | --inputs data.csv|json) [--out results.csv|json]
 *                 [--backend gpu|cpu] [--check] ...
 *   wavegrad info
 *
 * Node only (file system, process): nothing in src/index.ts imports this folder, so the browser
 * bundle never sees it. Exit codes: 0 done, 1 failed (bad program or file, no device, check above
 * tolerance), 2 bad command line.
 */
import { readFileSync, statSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  compareResults,
  createCpuEngine,
  createGpuEngine,
  DeviceError,
  evaluateCpu,
  parse,
  ParseError,
  WavegradError,
  type Bindings,
  type Graph,
  type GpuEngine,
  type Results,
  type GpuEngineOptions,
} from '../index.js'
import { generateInputs, parseBatch, parseRanges } from './generate.js'
import { formatF32, formatOf, InputError, matchColumns, readInputs, writeResults } from './io.js'
import { Progress } from './progress.js'

/** A command line that cannot be run as written (exit code 2). */
class UsageError extends Error {
  override name = 'UsageError'
}

const USAGE = `wavegrad — values and Jacobians of expression programs for many input bindings, on WebGPU

Usage:
  wavegrad eval <program | file> --batch N [options]      generated inputs
  wavegrad eval <program | file> --inputs data.csv|json [options]
  wavegrad info                                            the WebGPU adapter, its limits and features
  wavegrad help | --help | --version

The program is text ("f = (1-x)^2 + 100*(y-x^2)^2"; lines or ';' separate assignments) or the
path of a file holding it ('-' reads standard input). Names never assigned are inputs.

eval options:
  -b, --batch N          evaluate N bindings (1000, 1e6, 2^20) of generated inputs: each input is
                         uniform in [-1, 1] unless --range says otherwise, float32, from a seeded
                         generator (the same --seed gives the same numbers everywhere)
      --range SPEC       name=lo:hi for one input, lo:hi (write --range=-2:2) for all others;
                         repeatable. lo:lo fixes an input at lo
      --seed N           seed of the generated inputs (default 1)
  -i, --inputs FILE      bindings from a file instead: CSV with a header of input names
                         (x,y / 1,2 / 3,4), or JSON columns {"x": [1, 3], "a": 0.5} (a number is
                         shared by every binding) or rows [{"x": 1, "y": 2}, ...], or a
                         results file of --out x.json (reruns its bindings)
  -o, --out FILE         write inputs, values and Jacobians to FILE (.csv: columns x, y, f, df/dx,
                         df/dy; .json: {backend, size, inputs, values, jacobian}); without --out the
                         first rows are printed
      --show N           rows to print without --out (default 10)
      --backend B        gpu (default: WebGPU, float32) or cpu (compiled JavaScript, float64)
      --tier T           GPU kernel: fused (default), interpreter or auto
      --check            compare with the float64 reference (evaluateCpu) on up to 65,536 bindings
                         spread evenly over the batch; prints the max scaled error
      --check-all        the same on every binding (the reference is slow: ~10^5-10^6 bindings/s)
      --tolerance X      --check fails (exit 1) above this error (default 1e-3 gpu, 1e-9 cpu)
      --progress         always draw the progress bar (default: on a terminal, after 1 s)
      --no-progress      never draw it

Examples:
  wavegrad eval "f = (1-x)^2 + 100*(y-x^2)^2" --batch 2^20 --range x=-2:2 --range y=-1:3 --check
  wavegrad eval model.wg --inputs points.csv --out results.csv --backend cpu
  wavegrad info`

const EVAL_OPTIONS = {
  batch: { type: 'string', short: 'b' },
  range: { type: 'string', multiple: true },
  seed: { type: 'string' },
  inputs: { type: 'string', short: 'i' },
  out: { type: 'string', short: 'o' },
  show: { type: 'string' },
  backend: { type: 'string' },
  tier: { type: 'string' },
  check: { type: 'boolean' },
  'check-all': { type: 'boolean' },
  tolerance: { type: 'string' },
  progress: { type: 'boolean' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Bindings checked by --check (evenly spaced over the batch). */
const CHECK_SAMPLE = 1 << 16
/** Bindings per engine call: large enough to keep the GPU's tiles pipelined, small enough for progress. */
const GPU_CHUNK = 1 << 21
const CPU_CHUNK = 1 << 16
const REFERENCE_CHUNK = 1 << 12

const out = (line = '') => process.stdout.write(`${line}\n`)
const fmtInt = (n: number) => n.toLocaleString('en-US')

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v') {
    out(version())
    return 0
  }
  if (command === 'eval') return evalCommand(rest)
  if (command === 'info') return infoCommand(rest)
  throw new UsageError(`unknown command '${command}' (commands: eval, info, help)`)
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

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

function parseProgram(program: { text: string; origin: string }): Graph {
  try {
    return parse(program.text)
  } catch (e) {
    if (e instanceof ParseError) {
      throw new InputError(`${program.origin}:${e.line}:${e.column}: ParseError: ${e.reason}\n  ${e.source}\n  ${' '.repeat(Math.max(0, e.column - 1))}^`)
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

type Row = Float32Array | Float64Array

async function evalCommand(args: string[]): Promise<number> {
  const { values: opt, positionals } = parseArgs({ args, options: EVAL_OPTIONS, allowPositionals: true, strict: true })
  if (opt.help) {
    out(USAGE)
    return 0
  }
  if (positionals.length !== 1) throw new UsageError(`eval wants exactly one program (text or a file), got ${positionals.length}; e.g. wavegrad eval "f = x*y" --batch 1000`)
  const backend = opt.backend ?? 'gpu'
  if (backend !== 'gpu' && backend !== 'cpu') throw new UsageError(`--backend is gpu or cpu, got '${backend}'`)
  const tier = opt.tier ?? 'fused'
  if (tier !== 'fused' && tier !== 'interpreter' && tier !== 'auto') throw new UsageError(`--tier is fused, interpreter or auto, got '${tier}'`)
  if (opt.tier !== undefined && backend === 'cpu') throw new UsageError('--tier applies to --backend gpu only')
  if (opt.batch !== undefined && opt.inputs !== undefined) throw new UsageError('give either --batch N (generated inputs) or --inputs FILE, not both')
  if (opt.batch === undefined && opt.inputs === undefined) throw new UsageError('how many bindings? give --batch N (generated inputs) or --inputs FILE')
  if (opt.inputs !== undefined && (opt.range || opt.seed !== undefined)) throw new UsageError('--range and --seed shape generated inputs (--batch); they do not apply to --inputs')
  if (opt.out !== undefined && !formatOf(opt.out)) throw new UsageError(`--out must end in .csv or .json, got '${opt.out}'`)
  if (opt.progress && opt['no-progress']) throw new UsageError('--progress and --no-progress contradict each other')
  const show = number(opt.show, 'show', 10)
  const seed = number(opt.seed, 'seed', 1)
  const check = opt.check || opt['check-all'] || false
  const tolerance = number(opt.tolerance, 'tolerance', backend === 'gpu' ? 1e-3 : 1e-9)
  const progress = new Progress(process.stderr, opt.progress ? { enabled: true } : opt['no-progress'] ? { enabled: false } : {})

  const program = loadProgram(positionals[0]!)
  const graph = parseProgram(program)
  const { inputs, outputs } = graph

  // Inputs: generated (float32, seeded) or from a file (float32 for the GPU, which computes in f32).
  let bindings: Record<string, Row | number>
  let size: number
  let source: string
  if (opt.inputs !== undefined) {
    const columns = matchColumns(readInputs(opt.inputs), inputs, opt.inputs)
    bindings = Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, typeof v === 'number' || backend === 'cpu' ? v : Float32Array.from(v)]))
    const arrays = Object.values(bindings).filter((v): v is Row => typeof v !== 'number')
    size = arrays.length ? arrays[0]!.length : 1
    source = `from ${opt.inputs}${backend === 'gpu' ? ' (rounded to float32)' : ''}`
  } else {
    const usage = <T>(f: () => T): T => {
      try {
        return f()
      } catch (e) {
        throw e instanceof InputError ? new UsageError(e.message) : e
      }
    }
    // A program without inputs has exactly one binding, whatever --batch says.
    const asked = usage(() => parseBatch(opt.batch!))
    size = inputs.length ? asked : 1
    const ranges = usage(() => parseRanges(opt.range ?? [], inputs))
    const generated = generateInputs(inputs, size, ranges, seed)
    // The CPU engine computes in float64: its inputs (the same float32 numbers) are written exactly.
    bindings = backend === 'cpu' ? Object.fromEntries(Object.entries(generated).map(([k, v]) => [k, Float64Array.from(v)])) : generated
    const shown = inputs.map((n) => `${n} in [${ranges[n]![0]}, ${ranges[n]![1]}]`).join(', ')
    source = `generated: uniform float32, seed ${seed}${shown ? `; ${shown}` : ''}`
  }

  let engine: GpuEngine | undefined
  try {
    let describe: string
    let run: (b: Bindings) => Promise<Results<Row> & { tier?: string }>
    let compileMs = 0
    let t = performance.now()
    if (backend === 'gpu') {
      try {
        engine = await createGpuEngine({ tier: tier as NonNullable<GpuEngineOptions['tier']> })
      } catch (e) {
        if (e instanceof DeviceError) throw new DeviceError(`${e.message}\n(or evaluate on the CPU, in float64: --backend cpu)`, e.reason)
        throw e
      }
      const kernel = engine.compile(graph)
      t = performance.now()
      if (tier === 'interpreter') await engine.interpreter()
      else if (tier === 'fused') await kernel.ready
      compileMs = performance.now() - t
      describe = engine.description
      run = (b) => kernel.run(b)
    } else {
      const kernel = createCpuEngine().compile(graph)
      compileMs = performance.now() - t
      describe = kernel.description
      run = (b) => kernel.run(b)
    }

    out(`program   ${inputs.length} input${inputs.length === 1 ? '' : 's'} (${inputs.join(', ') || 'none'}) -> ${outputs.length} output${outputs.length === 1 ? '' : 's'} (${outputs.join(', ')}); ${graph.nodeCount} nodes`)
    out(`inputs    ${fmtInt(size)} binding${size === 1 ? '' : 's'}, ${source}`)
    out(`backend   ${describe}`)

    // Evaluate, chunk by chunk (the engines tile internally; chunks only feed the progress bar).
    progress.start('evaluating', size, 'bindings')
    t = performance.now()
    const results = await evaluateChunked(run, bindings, size, backend === 'gpu' ? GPU_CHUNK : CPU_CHUNK, (done) => progress.tick(done))
    const runMs = performance.now() - t
    progress.done()
    const rate = size / runMs / 1e3
    const entries = outputs.length * (1 + inputs.length)
    out(`kernel    ${backend === 'gpu' ? `${results.tier ?? tier} tier` : 'compiled JavaScript'}, built in ${compileMs.toFixed(0)} ms`)
    out(`run       ${runMs.toFixed(1)} ms = ${rate >= 1 ? `${rate.toFixed(1)} M` : `${fmtInt(Math.round(rate * 1e6))} `}bindings/s (${entries} number${entries === 1 ? '' : 's'} per binding: values and Jacobian entries)`)

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

    const table = { size, backend: describe, inputs, outputs, bindings, values: results.values, jacobian: results.jacobian }
    if (opt.out !== undefined) {
      progress.start('writing', size, 'rows')
      writeResults(opt.out, table, (done) => progress.tick(done))
      progress.done()
      out(`wrote     ${opt.out} (${fmtInt(size)} row${size === 1 ? '' : 's'})`)
    } else if (show > 0) {
      out()
      printPreview(table, Math.min(size, show))
      if (size > show) out(`… ${fmtInt(size - show)} more row${size - show === 1 ? '' : 's'} (write them all with --out results.csv)`)
    }
    return failed ? 1 : 0
  } finally {
    engine?.destroy()
  }
}

/** Runs the batch in chunks of `chunk` bindings and assembles full-length rows. */
async function evaluateChunked(
  run: (b: Bindings) => Promise<Results<Row> & { tier?: string }>,
  bindings: Record<string, Row | number>,
  size: number,
  chunk: number,
  tick: (done: number) => void,
): Promise<Results<Row> & { tier?: string }> {
  if (size <= chunk) {
    const r = await run(bindings)
    tick(size)
    return r
  }
  let full: (Results<Row> & { tier?: string }) | undefined
  for (let start = 0; start < size; start += chunk) {
    const end = Math.min(size, start + chunk)
    const part = await run(Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, typeof v === 'number' ? v : v.subarray(start, end)])))
    const grow = (a: Row) => new (a.constructor as Float32ArrayConstructor | Float64ArrayConstructor)(size)
    if (!full) {
      const values = Object.fromEntries(Object.entries(part.values).map(([o, a]) => [o, grow(a)]))
      const jacobian = Object.fromEntries(Object.entries(part.jacobian).map(([o, row]) => [o, Object.fromEntries(Object.entries(row).map(([i, a]) => [i, grow(a)]))]))
      full = { ...part, values, jacobian, size }
    }
    for (const [o, a] of Object.entries(part.values)) full.values[o]!.set(a, start)
    for (const [o, row] of Object.entries(part.jacobian)) for (const [i, a] of Object.entries(row)) full.jacobian[o]![i]!.set(a, start)
    tick(end)
  }
  return full!
}

/** compareResults against evaluateCpu (float64) on n bindings evenly spread over the batch. */
function checkAgainstReference(graph: Graph, bindings: Record<string, Row | number>, results: Results<Row>, size: number, n: number, tick: (done: number) => void) {
  const at = (i: number) => (n === size ? i : Math.floor((i * size) / n))
  const pick = (a: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => a[at(i)]!)
  const sample = Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, typeof v === 'number' ? v : n === size ? v : pick(v)]))
  // The reference runs in chunks so that the progress bar moves; rows are assembled to full length
  // so that compareResults scales each row by its peak over all checked bindings.
  const ref: Results<Float64Array> = { values: {}, jacobian: {}, size: n, backend: 'reference' }
  for (const o of graph.outputs) {
    ref.values[o] = new Float64Array(n)
    ref.jacobian[o] = Object.fromEntries(graph.inputs.map((i) => [i, new Float64Array(n)]))
  }
  for (let start = 0; start < n; start += REFERENCE_CHUNK) {
    const end = Math.min(n, start + REFERENCE_CHUNK)
    const part = evaluateCpu(graph, Object.fromEntries(Object.entries(sample).map(([k, v]) => [k, typeof v === 'number' ? v : v.subarray(start, end)])))
    for (const o of graph.outputs) {
      ref.values[o]!.set(part.values[o]!, start)
      for (const i of graph.inputs) ref.jacobian[o]![i]!.set(part.jacobian[o]![i]!, start)
    }
    tick(end)
  }
  const actual: Results<ArrayLike<number>> =
    n === size
      ? results
      : {
          values: Object.fromEntries(Object.entries(results.values).map(([o, a]) => [o, pick(a)])),
          jacobian: Object.fromEntries(Object.entries(results.jacobian).map(([o, row]) => [o, Object.fromEntries(Object.entries(row).map(([i, a]) => [i, pick(a)]))])),
          size: n,
          backend: results.backend,
        }
  return compareResults(actual, ref)
}

/** The first rows as an aligned table: inputs, then per output its value and d<out>/d<input>. */
function printPreview(t: { inputs: readonly string[]; outputs: readonly string[]; bindings: Record<string, Row | number>; values: Record<string, Row>; jacobian: Record<string, Record<string, Row>> }, rows: number): void {
  const show = (x: number, f32: boolean) => (f32 ? formatF32(x) : Number.isFinite(x) ? String(Number(x.toPrecision(10))) : String(x))
  const cols: { name: string; at: (i: number) => string }[] = []
  const col = (name: string, a: Row | number) => cols.push({ name, at: (i) => (typeof a === 'number' ? String(a) : show(a[i]!, a instanceof Float32Array)) })
  for (const n of t.inputs) col(n, t.bindings[n]!)
  for (const o of t.outputs) {
    col(o, t.values[o]!)
    for (const n of t.inputs) col(`d${o}/d${n}`, t.jacobian[o]![n]!)
  }
  const cells = cols.map((c) => [c.name, ...Array.from({ length: rows }, (_, i) => c.at(i))])
  const widths = cells.map((c) => Math.max(...c.map((s) => s.length)))
  for (let r = 0; r <= rows; r++) out(cells.map((c, k) => c[r]!.padStart(widths[k]!)).join('  ').trimEnd())
}

/** A GPU object for `info` (navigator.gpu, or Dawn through the optional `webgpu` package). */
async function gpuObject(): Promise<GPU | undefined> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu
  if (nav) return nav
  try {
    const mod = (await import('webgpu')) as { create: (flags: string[]) => GPU }
    return mod.create([])
  } catch {
    return undefined // createGpuEngine reports the missing package with its own message
  }
}

async function infoCommand(args: string[]): Promise<number> {
  const { values: opt } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true })
  if (opt.help) {
    out(USAGE)
    return 0
  }
  // Held until the process exits (Dawn footgun: a collected instance crashes the process).
  const gpu = await gpuObject()
  const engine = await createGpuEngine(gpu ? { gpu } : {})
  try {
    const adapter = gpu ? await gpu.requestAdapter() : null
    const info = adapter?.info ?? engine.device.adapterInfo
    out(`adapter       ${engine.description}`)
    if (info) {
      for (const k of ['vendor', 'architecture', 'device', 'description'] as const) if (info[k]) out(`${k.padEnd(14)}${info[k]}`)
    }
    const fallback = (adapter as { isFallbackAdapter?: boolean } | null)?.isFallbackAdapter ?? (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter
    if (fallback !== undefined) out(`fallback      ${fallback ? 'yes (a software or otherwise limited adapter)' : 'no'}`)
    out(`features      ${adapter ? [...adapter.features].sort().join(', ') || 'none' : '(adapter not available)'}`)
    out()
    const names = limitNames(adapter?.limits ?? engine.device.limits)
    const width = Math.max(...names.map((n) => n.length)) + 2
    out(`${'limit'.padEnd(width)}${'adapter'.padStart(14)}${"wavegrad's device".padStart(20)}`)
    for (const n of names) {
      const a = adapter ? String((adapter.limits as unknown as Record<string, number>)[n]) : '?'
      const d = String((engine.device.limits as unknown as Record<string, number>)[n])
      out(`${n.padEnd(width)}${a.padStart(14)}${d.padStart(20)}`)
    }
    return 0
  } finally {
    engine.destroy()
  }
}

/** Limit names of a GPUSupportedLimits (its getters live on the prototype). */
function limitNames(limits: GPUSupportedLimits): string[] {
  const names = new Set<string>()
  for (const k in limits) names.add(k)
  for (let p = Object.getPrototypeOf(limits); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor' && typeof (limits as unknown as Record<string, unknown>)[k] === 'number') names.add(k)
  }
  return [...names].sort()
}

function report(e: unknown): number {
  const err = process.stderr
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    err.write(`wavegrad: ${(e as Error).message}\nRun 'wavegrad --help' for usage.\n`)
    return 2
  }
  if (e instanceof InputError) {
    err.write(`wavegrad: ${e.message}\n`)
    return 1
  }
  if (e instanceof WavegradError) {
    err.write(`wavegrad: ${e.name}: ${e.message}\n`)
    return 1
  }
  err.write(`wavegrad: internal error: ${(e as Error)?.stack ?? String(e)}\n`)
  return 1
}

let code: number
try {
  code = await main(process.argv.slice(2))
} catch (e) {
  code = report(e)
}
// Dawn's instance can keep the event loop alive after destroy(); stdout and stderr are synchronous
// for files, pipes and terminals on Linux, so nothing printed is lost.
process.exit(code)
