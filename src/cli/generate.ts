/**
 * Generated inputs for `wavegrad eval --batch N`. In: the program's input names, N, per-input
 * ranges and a seed. Out: one Float32Array per input, uniform in [lo, hi] (default [-1, 1]),
 * deterministic: the same seed gives the same numbers on every machine. Float32 so that the GPU
 * and the float64 reference see exactly the same inputs.
 */
import { mulberry32 } from '../util/random.js'
import { InputError } from './columns.js'
import { didYouMean } from './usage.js'

/** The default range of a generated input. */
export const DEFAULT_RANGE: readonly [number, number] = [-1, 1]

/**
 * Parses a batch size: `1000`, `1e6`, `2^20`, `1_000_000`.
 *
 * @example
 * parseBatch('2^20')   // 1048576
 */
export function parseBatch(text: string): number {
  const t = text.trim().replace(/_/g, '')
  const pow = /^(\d+)\^(\d+)$/.exec(t)
  const n = pow ? Number(pow[1]) ** Number(pow[2]) : /^\d+(\.\d+)?([eE]\d+)?$/.test(t) ? Number(t) : NaN
  if (!Number.isSafeInteger(n) || n < 1) throw new InputError(`--batch wants a whole number of bindings ≥ 1 (like 1000, 1e6 or 2^20), got '${text}'`)
  return n
}

/**
 * Parses `--range` values: `name=lo:hi` for one input, `lo:hi` for every input not named.
 *
 * @example
 * parseRanges(['x=-2:2', '0:1'], ['x', 'y'])   // { x: [-2, 2], y: [0, 1] }
 */
export function parseRanges(specs: readonly string[], inputs: readonly string[]): Record<string, readonly [number, number]> {
  let fallback = DEFAULT_RANGE
  const named: Record<string, readonly [number, number]> = {}
  for (const spec of specs) {
    const m = /^(?:([A-Za-z_][A-Za-z0-9_]*)=)?([^:]+):([^:]+)$/.exec(spec.trim())
    const lo = m ? Number(m[2]) : NaN
    const hi = m ? Number(m[3]) : NaN
    if (!m || !Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw new InputError(`--range wants name=lo:hi or lo:hi with finite numbers lo ≤ hi (e.g. --range x=-2:2, --range=-1:1), got '${spec}'`)
    }
    if (m[1] === undefined) fallback = [lo, hi]
    else if (!inputs.includes(m[1])) throw new InputError(`--range names '${m[1]}', which is not an input (the program's inputs are: ${inputs.join(', ') || 'none'})${didYouMean(m[1], inputs)}`)
    else named[m[1]] = [lo, hi]
  }
  return Object.fromEntries(inputs.map((n) => [n, named[n] ?? fallback]))
}

/**
 * n float32 values per input, uniform in its range, from a seeded generator (one independent
 * stream per input position). `float64` stores the same float32 numbers in Float64Arrays (what the
 * float64 CPU engine takes) without a second copy.
 *
 * @example
 * generateInputs(['x', 'y'], 4, { x: [0, 1], y: [-1, 1] }, 1)   // { x: Float32Array(4), y: Float32Array(4) }
 */
export function generateInputs(inputs: readonly string[], n: number, ranges: Readonly<Record<string, readonly [number, number]>>, seed: number): Record<string, Float32Array<ArrayBuffer>>
export function generateInputs(inputs: readonly string[], n: number, ranges: Readonly<Record<string, readonly [number, number]>>, seed: number, float64: true): Record<string, Float64Array<ArrayBuffer>>
export function generateInputs(inputs: readonly string[], n: number, ranges: Readonly<Record<string, readonly [number, number]>>, seed: number, float64 = false): Record<string, Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>> {
  return Object.fromEntries(inputs.map((name, k) => [name, generateColumn(k, n, ranges[name] ?? DEFAULT_RANGE, seed, float64)]))
}

/**
 * The generated column of the input at position k of the program's inputs (its own stream: an
 * input's numbers do not depend on which other inputs are generated).
 *
 * @example
 * generateColumn(0, 4, [0, 1], 1, false)   // Float32Array(4), the same as generateInputs(['x'], 4, ..., 1).x
 */
export function generateColumn(k: number, n: number, range: readonly [number, number], seed: number, float64: boolean): Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer> {
  const [lo, hi] = range
  const next = mulberry32(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b))
  const a = float64 ? new Float64Array(n) : new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = Math.fround(lo + (hi - lo) * next())
  return a
}
