/**
 * Generated inputs for `wavegrad eval --batch N`. In: the program's input names, N, per-input
 * ranges and a seed. Out: one Float32Array per input, uniform in [lo, hi] (default [-1, 1]),
 * deterministic: the same seed gives the same numbers on every machine. Float32 so that the GPU
 * and the float64 reference see exactly the same inputs.
 */
import { mulberry32 } from '../util/random.js'
import { InputError } from './io.js'

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
    else if (!inputs.includes(m[1])) throw new InputError(`--range names '${m[1]}', which is not an input (the program's inputs are: ${inputs.join(', ') || 'none'})`)
    else named[m[1]] = [lo, hi]
  }
  return Object.fromEntries(inputs.map((n) => [n, named[n] ?? fallback]))
}

/**
 * n float32 values per input, uniform in its range, from a seeded generator (one independent
 * stream per input position).
 *
 * @example
 * generateInputs(['x', 'y'], 4, { x: [0, 1], y: [-1, 1] }, 1)   // { x: Float32Array(4), y: Float32Array(4) }
 */
export function generateInputs(inputs: readonly string[], n: number, ranges: Readonly<Record<string, readonly [number, number]>>, seed: number): Record<string, Float32Array<ArrayBuffer>> {
  return Object.fromEntries(
    inputs.map((name, k) => {
      const [lo, hi] = ranges[name] ?? DEFAULT_RANGE
      const next = mulberry32(Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b))
      const a = new Float32Array(n)
      for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * next()
      return [name, a]
    }),
  )
}
