/**
 * checkGradients: JAX-style check_grads for any engine. In: a Graph, an engine with
 * `evaluate(graph, bindings)` (GPU, CPU, or anything of that shape), and the points to check —
 * given, or sampled from a domain per input. Out: a report of three sources per binding: the
 * engine, the float64 CPU reference, and central finite differences of the reference's values
 * (Richardson-extrapolated), with the max error per output/input row, the worst bindings, counts
 * of non-finite numbers per source, and `ok` against tolerances.
 *
 * Errors are scaled as in compareResults: |a - r| / (|r| + 1e-2·peak + 1e-6), peak = the largest
 * finite |r| of that row (relative where a number is typical, absolute near a zero crossing).
 *
 * Invariants: every point is rounded to float32 first, so an f32 engine and the f64 reference see
 * the same numbers. A finite difference is compared only where it is usable: finite, the reference
 * finite, and accurate by its own error estimate (Richardson at steps h, h/2, h/4); a kink, jump or
 * singularity within the step fails that, and the point is counted as skipped, not as an error.
 */
import { rowScale, scaledError } from './verify.js'
import type { Bindings } from './bindings.js'
import { BindingError } from './errors.js'
import { describe, requireOutputs, type Graph } from './graph.js'
import { evaluateCpu } from './reference.js'
import type { Evaluator, Results } from './results.js'
import { mulberry32 } from './util/random.js'

/** What checkGradients needs of an engine: GpuEngine, CpuEngine, or a stand-in. */
export type GradientEngine = Evaluator

export interface GradientCheckOptions {
  /** The points to check: one array per input (all of one length) or a number for every point. */
  readonly bindings?: Readonly<Record<string, ArrayLike<number> | number>>
  /** Where to sample, per input or one range for all (default [-1, 1]); ignored with `bindings`. */
  readonly domain?: readonly [number, number] | Readonly<Record<string, readonly [number, number]>>
  /** Points to sample (default 256). */
  readonly count?: number
  /** Seed of the sampler (default 1). */
  readonly seed?: number
  /** Relative finite-difference step: h = step·max(1, |x|), rounded to a power of 2 (default 2^-10). */
  readonly step?: number
  /**
   * Largest scaled errors that pass. engine: engine vs f64 reference (default 1e-3 where the
   * engine returns Float32Array, 1e-9 otherwise); fd: f64 reference vs finite differences (1e-5).
   */
  readonly tol?: { readonly engine?: number; readonly fd?: number }
  /** How many of the worst bindings the report lists (default 3). */
  readonly worst?: number
}

/** Non-finite numbers per source. */
export interface NonFiniteCounts {
  readonly engine: number
  readonly reference: number
  readonly finiteDifference: number
}

/** One row of results: an output's value (no `input`) or ∂output/∂input. */
export interface GradientEntry {
  readonly output: string
  readonly input?: string
  /** Max scaled error of the engine vs the f64 reference, and the binding where it occurs (-1: none). */
  readonly engineError: number
  readonly engineWorst: number
  /** Jacobian rows: max scaled error of the f64 reference vs finite differences, and where. */
  readonly fdError?: number
  readonly fdWorst?: number
  /** Jacobian rows: points whose finite difference was not usable (non-finite, or inaccurate by its own error estimate). */
  readonly fdSkipped?: number
  readonly nonFinite: NonFiniteCounts
}

/** A binding among the worst, with the three numbers of its worst row. */
export interface WorstBinding {
  readonly index: number
  readonly inputs: Readonly<Record<string, number>>
  readonly output: string
  readonly input?: string
  readonly engine: number
  readonly reference: number
  readonly finiteDifference?: number
  readonly engineError: number
  readonly fdError?: number
}

export interface GradientReport {
  /** Every row within both tolerances. */
  readonly ok: boolean
  /** The engine's `backend`. */
  readonly backend: string
  readonly size: number
  /** The points checked (float32 values, as Float64Array). */
  readonly bindings: Readonly<Record<string, Float64Array>>
  readonly tol: { readonly engine: number; readonly fd: number }
  readonly entries: readonly GradientEntry[]
  /** Worst bindings first, ranked by error / tolerance. */
  readonly worst: readonly WorstBinding[]
  readonly nonFinite: NonFiniteCounts
}

/**
 * Checks an engine's values and Jacobians against the f64 reference, and the reference's
 * Jacobians against finite differences.
 *
 * @example
 * const report = await checkGradients(parse('f = x * sin(y)'), await createGpuEngine(), { domain: [-2, 2], count: 1024 })
 * report.ok; console.log(formatGradientReport(report))
 */
export async function checkGradients(graph: Graph, engine: GradientEngine, options: GradientCheckOptions = {}): Promise<GradientReport> {
  requireOutputs(graph)
  const step = positive(options.step ?? 2 ** -10, 'step')
  const tolFd = positive(options.tol?.fd ?? 1e-5, 'tol.fd')
  if (options.tol?.engine !== undefined) positive(options.tol.engine, 'tol.engine')
  const points = options.bindings ? givenPoints(graph, options.bindings) : samplePoints(graph, options)
  const inputs = graph.inputs
  const size = inputs.length ? points[inputs[0]!]!.length : 1
  const got = await engine.evaluate(graph, Object.fromEntries(inputs.map((i) => [i, Float32Array.from(points[i]!)])))
  const ref = evaluateCpu(graph, points)
  const fd = finiteDifferences(graph, points, size, step, tolFd)
  const f32 = got.values[graph.outputs[0]!] instanceof Float32Array
  const tol = { engine: options.tol?.engine ?? (f32 ? 1e-3 : 1e-9), fd: tolFd }

  // One row per output value and per (output, input): the three sources side by side.
  const rows = graph.outputs.flatMap((o) => [
    { output: o, input: undefined, mine: got.values[o], r: ref.values[o]!, d: undefined },
    ...inputs.map((i) => ({ output: o, input: i, mine: got.jacobian[o]?.[i], r: ref.jacobian[o]![i]!, d: fd[o]![i]! })),
  ])
  /** Per binding: its worst row, ranked by error / tolerance. */
  const score = new Float64Array(size)
  const worstRow = new Array<{ row: number; e: number; f: number | undefined } | undefined>(size)
  const entries = rows.map(({ output, input, mine, r, d }, k): GradientEntry => {
    // A missing or short row from the engine counts as NaN everywhere: an error wherever r is finite.
    const a = mine && mine.length === size ? mine : new Float64Array(size).fill(NaN)
    const scale = rowScale(r)
    let engineError = 0, engineWorst = -1, fdError = 0, fdWorst = -1, fdSkipped = 0
    const nonFinite = { engine: 0, reference: 0, finiteDifference: 0 }
    for (let b = 0; b < size; b++) {
      const x = a[b]!, y = r[b]!
      if (!Number.isFinite(x)) nonFinite.engine++
      if (!Number.isFinite(y)) nonFinite.reference++
      const e = scaledError(x, y, scale)
      if (e > engineError) [engineError, engineWorst] = [e, b]
      let f: number | undefined
      if (d) {
        const v = d.value[b]!
        if (!Number.isFinite(v)) nonFinite.finiteDifference++
        if (Number.isFinite(y) && d.usable[b]) {
          f = scaledError(v, y, scale)
          if (f > fdError) [fdError, fdWorst] = [f, b]
        } else {
          fdSkipped++
        }
      }
      const s = Math.max(e / tol.engine, (f ?? 0) / tol.fd)
      if (s > score[b]!) {
        score[b] = s
        worstRow[b] = { row: k, e, f }
      }
    }
    return input === undefined ? { output, engineError, engineWorst, nonFinite } : { output, input, engineError, engineWorst, fdError, fdWorst, fdSkipped, nonFinite }
  })

  const ranked = Array.from({ length: size }, (_, b) => b).filter((b) => score[b]! > 0)
  ranked.sort((p, q) => score[q]! - score[p]! || p - q)
  const worst = ranked.slice(0, Math.max(0, options.worst ?? 3)).map((b): WorstBinding => {
    const { row, e, f } = worstRow[b]!
    const { output, input, mine, r, d } = rows[row]!
    const base = { index: b, inputs: Object.fromEntries(inputs.map((i) => [i, points[i]![b]!])), output, engine: mine && mine.length === size ? mine[b]! : NaN, reference: r[b]!, engineError: e }
    return input === undefined ? base : { ...base, input, finiteDifference: d!.value[b]!, ...(f === undefined ? {} : { fdError: f }) }
  })
  const total = (k: keyof NonFiniteCounts) => entries.reduce((s, e) => s + e.nonFinite[k], 0)
  return {
    ok: entries.every((e) => e.engineError <= tol.engine && (e.fdError ?? 0) <= tol.fd),
    backend: got.backend,
    size,
    bindings: points,
    tol,
    entries,
    worst,
    nonFinite: { engine: total('engine'), reference: total('reference'), finiteDifference: total('finiteDifference') },
  }
}

/**
 * A short table of a report: one line per row, then the worst bindings.
 *
 * @example
 * console.log(formatGradientReport(await checkGradients(g, engine)))
 */
export function formatGradientReport(report: GradientReport): string {
  const fmt = (v: number | undefined) => (v === undefined ? '-' : v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(2))
  const num = (v: number | undefined) => (v === undefined ? '-' : String(Number(v.toPrecision(9))))
  const head = ['output', 'row', 'engine vs f64', 'f64 vs fd', 'non-finite e/f64/fd', 'fd skipped']
  const lines = report.entries.map((e) => [
    e.output,
    e.input === undefined ? 'value' : `d/d${e.input}`,
    fmt(e.engineError),
    fmt(e.fdError),
    `${e.nonFinite.engine}/${e.nonFinite.reference}/${e.input === undefined ? '-' : e.nonFinite.finiteDifference}`,
    e.fdSkipped === undefined ? '-' : String(e.fdSkipped),
  ])
  const widths = head.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k]!.length)))
  const table = [head, ...lines].map((l) => l.map((c, k) => c.padEnd(widths[k]!)).join('  ').trimEnd())
  const worst = report.worst.map((w) => {
    const at = Object.entries(w.inputs).map(([k, v]) => `${k}=${num(v)}`).join(', ')
    const what = w.input === undefined ? w.output : `d${w.output}/d${w.input}`
    const fd = w.input === undefined ? '' : `, fd ${num(w.finiteDifference)}`
    return `  #${w.index} (${at}): ${what} engine ${num(w.engine)}, f64 ${num(w.reference)}${fd}  (errors ${fmt(w.engineError)}, ${fmt(w.fdError)})`
  })
  return [
    `gradient check ${report.ok ? 'OK' : 'FAILED'}: ${report.size} bindings, ${report.backend}; tolerances engine ${fmt(report.tol.engine)}, fd ${fmt(report.tol.fd)}`,
    ...table,
    ...(worst.length ? ['worst bindings:', ...worst] : []),
  ].join('\n')
}

/** A finite-difference Jacobian row, and where it is usable. */
interface FdRow {
  readonly value: Float64Array
  readonly usable: Uint8Array
}

/**
 * ∂output/∂input by central differences of f64 reference values at steps h, h/2, h/4,
 * D(h) = (f(x+h) - f(x-h)) / ((x+h) - (x-h)), Richardson-extrapolated twice:
 * R(h) = D(h/2) + (D(h/2) - D(h))/3 (error O(h⁴)). The estimate is R(h/2); |R(h) - R(h/2)|/15
 * estimates its error, and a point is usable where that is below a quarter of `tol` (scaled): a
 * kink, jump or singularity within the step makes the estimates disagree, and such a point says
 * nothing about the Jacobian.
 */
function finiteDifferences(graph: Graph, points: Record<string, Float64Array>, size: number, step: number, tol: number): Record<string, Record<string, FdRow>> {
  const out: Record<string, Record<string, FdRow>> = Object.fromEntries(graph.outputs.map((o) => [o, {}]))
  for (const input of graph.inputs) {
    const x = points[input]!
    const h = x.map((v) => 2 ** Math.round(Math.log2(step * Math.max(1, Math.abs(v)))))
    const values = (scale: number, sign: number) => {
      const moved = x.map((v, b) => v + sign * scale * h[b]!)
      return { x: moved, values: evaluateCpu(graph, { ...points, [input]: moved }).values }
    }
    const pairs = [1, 0.5, 0.25].map((scale) => [values(scale, 1), values(scale, -1)] as const)
    for (const o of graph.outputs) {
      const [d1, d2, d3] = pairs.map(([p, m]) => Float64Array.from(x, (_, b) => (p.values[o]![b]! - m.values[o]![b]!) / (p.x[b]! - m.x[b]!))) as [Float64Array, Float64Array, Float64Array]
      const coarse = d2.map((v, b) => v + (v - d1[b]!) / 3)
      const value = d3.map((v, b) => v + (v - d2[b]!) / 3)
      const scale = rowScale(value)
      const usable = Uint8Array.from(value, (v, b) => (Math.abs(v - coarse[b]!) / 15 <= 0.25 * tol * (Math.abs(v) + scale) ? 1 : 0))
      out[o]![input] = { value, usable }
    }
  }
  return out
}

function givenPoints(graph: Graph, given: Readonly<Record<string, ArrayLike<number> | number>>): Record<string, Float64Array> {
  const unknown = Object.keys(given).filter((k) => !graph.inputs.includes(k))
  if (unknown.length) throw new BindingError(`checkGradients: unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (inputs: ${graph.inputs.join(', ') || 'none'})`)
  let size = 1
  for (const i of graph.inputs) {
    const v = given[i]
    if (v === undefined) throw new BindingError(`checkGradients: missing binding for '${i}'`)
    if (typeof v !== 'number') size = v.length
  }
  const points: Record<string, Float64Array> = {}
  for (const i of graph.inputs) {
    const v = given[i]!
    if (typeof v !== 'number' && v.length !== size) throw new BindingError(`checkGradients: bindings have unequal lengths ('${i}' has ${v.length}, another ${size})`)
    if (typeof v !== 'number' && !ArrayBuffer.isView(v)) {
      for (let k = 0; k < v.length; k++) if (typeof v[k] !== 'number') throw new BindingError(`checkGradients: binding '${i}'[${k}] is ${describe(v[k])}, not a number`)
    }
    points[i] = typeof v === 'number' ? new Float64Array(size).fill(Math.fround(v)) : Float64Array.from(v, (x) => Math.fround(x))
  }
  return points
}

function samplePoints(graph: Graph, options: GradientCheckOptions): Record<string, Float64Array> {
  const count = options.count ?? 256
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`checkGradients: count must be a positive integer, got ${describe(count)}`)
  const domain = options.domain ?? [-1, 1]
  const perInput = !Array.isArray(domain)
  if (perInput) {
    const unknown = Object.keys(domain).filter((k) => !graph.inputs.includes(k))
    if (unknown.length) throw new BindingError(`checkGradients: domain names unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (inputs: ${graph.inputs.join(', ') || 'none'})`)
  }
  const random = mulberry32(options.seed ?? 1)
  const points: Record<string, Float64Array> = {}
  for (const i of graph.inputs) {
    const d = perInput ? ((domain as Readonly<Record<string, readonly [number, number]>>)[i] ?? [-1, 1]) : (domain as readonly [number, number])
    const [lo, hi] = d
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) throw new RangeError(`checkGradients: the domain of '${i}' must be [lo, hi] with finite lo <= hi, got ${JSON.stringify(d)}`)
    points[i] = Float64Array.from({ length: count }, () => Math.fround(lo + (hi - lo) * random()))
  }
  return points
}

function positive(v: number, what: string): number {
  if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new RangeError(`checkGradients: ${what} must be a positive number, got ${describe(v)}`)
  return v
}
