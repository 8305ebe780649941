/**
 * What every CLI input reader shares. In: number text, reader options. Out: numbers (or undefined),
 * the Columns type readers return, and InputError, the error of every bad file (exit 1).
 */

/** A malformed or mismatched input file, or an unusable output path. */
export class InputError extends Error {
  override name = 'InputError'
}

/** Input columns by name: one number per binding, or one number for all. */
export type Columns = Record<string, Float64Array | Float32Array | number>

/** How readers treat what they read. */
export interface ReadOptions {
  /** Let NaN and ±Infinity through (default true for the parse functions; the CLI passes --allow-nan). */
  readonly allowNaN?: boolean
  /** Store columns as Float32Array (rounded) instead of Float64Array: what float32 backends get anyway. */
  readonly float32?: boolean
  /**
   * Called before storage for `rows` rows of `columns` numbers is allocated; throws to refuse
   * (memory). `more`: the file is still being read (CSV grows block by block), rows is a lower bound.
   */
  readonly reserve?: (rows: number, columns: number, more?: boolean) => void
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const SPECIAL: Record<string, number> = { nan: NaN, '+nan': NaN, '-nan': NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity }

/**
 * A number from text: decimal or exponent notation, or NaN / Infinity / -Infinity (any case); undefined otherwise.
 *
 * @example
 * parseNumber(' -2.5e3 ')   // -2500
 */
export function parseNumber(text: string): number | undefined {
  const t = text.trim()
  if (NUMBER.test(t)) return Number(t)
  const word = t.toLowerCase()
  // (Own keys only: 'constructor' or 'tostring' is not a number.)
  return Object.hasOwn(SPECIAL, word) ? SPECIAL[word] : undefined
}
