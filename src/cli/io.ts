/**
 * CLI input and output files. In: CSV or JSON text of input bindings; results to write. Out: one
 * column per input (Float64Array, or a number shared by every binding), checked against the
 * program's inputs; results written as CSV or JSON, streamed so that millions of rows never build
 * one giant string.
 *
 * Input formats (chosen by the file extension):
 *   CSV   a header of input names, then one row of numbers per binding: `x,y\n1,2\n3,4`
 *         (blank lines and lines starting with # are skipped)
 *   JSON  columns `{ "x": [1, 3], "y": [2, 4], "a": 0.5 }` (a number is shared by every binding),
 *         or rows `[{ "x": 1, "y": 2 }, { "x": 3, "y": 4 }]`, or a results file written by --out
 *         x.json (its "inputs": the same bindings again)
 * Numbers may also be NaN, Infinity, -Infinity (in JSON as strings: "NaN", "Infinity", ...).
 * Every error names the file and the line / row and column it is about.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { extname } from 'node:path'

/** A malformed or mismatched input file, or an unusable output path. */
export class InputError extends Error {
  override name = 'InputError'
}

/** Input columns by name: one number per binding, or one number for all. */
export type Columns = Record<string, Float64Array | number>

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const SPECIAL: Record<string, number> = { nan: NaN, '+nan': NaN, '-nan': NaN, inf: Infinity, '+inf': Infinity, '-inf': -Infinity, infinity: Infinity, '+infinity': Infinity, '-infinity': -Infinity }

/** A number from text: decimal or exponent notation, or NaN / Infinity / -Infinity (any case); undefined otherwise. */
export function parseNumber(text: string): number | undefined {
  const t = text.trim()
  if (NUMBER.test(t)) return Number(t)
  return SPECIAL[t.toLowerCase()]
}

/** Which format a path names, by extension; undefined for anything else. */
export function formatOf(path: string): 'csv' | 'json' | undefined {
  const ext = extname(path).toLowerCase()
  return ext === '.csv' ? 'csv' : ext === '.json' ? 'json' : undefined
}

/**
 * Parses CSV input text: header of names, one row of numbers per binding.
 *
 * @example
 * parseCsv('x,y\n1,2\n3,4', 'data.csv')   // { x: Float64Array [1, 3], y: Float64Array [2, 4] }
 */
export function parseCsv(text: string, file: string): Columns {
  const lines = text.split(/\r?\n/)
  let h = 0
  while (h < lines.length && skip(lines[h]!)) h++
  if (h === lines.length) throw new InputError(`${file}: no header line (expected the input names, e.g. x,y)`)
  const names = splitCsv(lines[h]!).map((n) => n.trim().replace(/^"(.*)"$/, '$1').trim())
  names.forEach((n, i) => {
    if (!n) throw new InputError(`${file}:${h + 1}: column ${i + 1} of the header has no name`)
    if (names.indexOf(n) !== i) throw new InputError(`${file}:${h + 1}: column '${n}' appears twice in the header`)
  })
  const rows: number[] = []
  for (let l = h + 1; l < lines.length; l++) if (!skip(lines[l]!)) rows.push(l)
  const columns = names.map(() => new Float64Array(rows.length))
  rows.forEach((l, r) => {
    const fields = splitCsv(lines[l]!)
    if (fields.length !== names.length) {
      throw new InputError(`${file}:${l + 1}: this row has ${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${names.length} (${names.join(', ')})`)
    }
    fields.forEach((f, c) => {
      const v = parseNumber(f)
      if (v === undefined) throw new InputError(`${file}:${l + 1}: column ${c + 1} ('${names[c]}'): '${f.trim()}' is not a number`)
      columns[c]![r] = v
    })
  })
  return Object.fromEntries(names.map((n, i) => [n, columns[i]!]))
}

function skip(line: string): boolean {
  const t = line.trim()
  return t === '' || t.startsWith('#')
}

function splitCsv(line: string): string[] {
  return line.split(',')
}

/**
 * Parses JSON input text: an object of columns (arrays, or numbers shared by every binding) or an
 * array of row objects with the same keys.
 *
 * @example
 * parseJson('{"x": [1, 3], "a": 2}', 'in.json')   // { x: Float64Array [1, 3], a: 2 }
 * parseJson('[{"x": 1}, {"x": 3}]', 'in.json')     // { x: Float64Array [1, 3] }
 */
export function parseJson(text: string, file: string): Columns {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new InputError(`${file}: not valid JSON: ${(e as Error).message}`)
  }
  const value = (v: unknown, where: string): number => {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseNumber(v) : undefined
    if (n === undefined) throw new InputError(`${file}: ${where} is ${JSON.stringify(v) ?? String(v)}, not a number`)
    return n
  }
  if (Array.isArray(data)) {
    const first = data[0]
    if (!isRecord(first)) throw new InputError(`${file}: a JSON array must hold one object per binding, like [{"x": 1, "y": 2}]${data.length ? `; row 1 is ${JSON.stringify(first)}` : ' (it is empty)'}`)
    const names = Object.keys(first)
    const columns = names.map(() => new Float64Array(data.length))
    data.forEach((row: unknown, r) => {
      if (!isRecord(row)) throw new InputError(`${file}: row ${r + 1} is ${JSON.stringify(row)}, not an object`)
      const keys = Object.keys(row)
      const extra = keys.filter((k) => !names.includes(k))
      const missing = names.filter((k) => !keys.includes(k))
      if (extra.length || missing.length) {
        throw new InputError(`${file}: row ${r + 1} ${missing.length ? `lacks ${missing.map((k) => `'${k}'`).join(', ')}` : ''}${missing.length && extra.length ? ' and ' : ''}${extra.length ? `has ${extra.map((k) => `'${k}'`).join(', ')}` : ''} (row 1 has ${names.join(', ')})`)
      }
      names.forEach((n, c) => (columns[c]![r] = value(row[n], `row ${r + 1}, '${n}'`)))
    })
    return Object.fromEntries(names.map((n, i) => [n, columns[i]!]))
  }
  if (!isRecord(data)) throw new InputError(`${file}: expected an object of columns like {"x": [1, 2]} or an array of rows like [{"x": 1}], got ${JSON.stringify(data)}`)
  // A results file of `wavegrad eval --out x.json`: its bindings are under "inputs".
  const record: Record<string, unknown> = isRecord(data.inputs) && isRecord(data.values) && isRecord(data.jacobian) ? data.inputs : data
  const out: Columns = {}
  let length = -1
  let first = ''
  for (const [name, col] of Object.entries(record)) {
    if (Array.isArray(col)) {
      out[name] = Float64Array.from(col, (v, i) => value(v, `'${name}'[${i}]`))
      if (length < 0) {
        length = col.length
        first = name
      } else if (col.length !== length) {
        throw new InputError(`${file}: columns have unequal lengths: '${first}' has ${length} values, '${name}' has ${col.length}`)
      }
    } else {
      out[name] = value(col, `'${name}'`)
    }
  }
  return out
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** Reads an input file (CSV or JSON by extension). */
export function readInputs(path: string): Columns {
  const format = formatOf(path)
  if (!format) throw new InputError(`${path}: input files must end in .csv or .json`)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new InputError(`cannot read inputs '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
  }
  return format === 'csv' ? parseCsv(text, path) : parseJson(text, path)
}

/**
 * Checks file columns against the program's inputs: every input needs a column, and a column that
 * is not an input is an error (a typo would otherwise go unnoticed).
 */
export function matchColumns(columns: Columns, inputs: readonly string[], file: string): Columns {
  const unknown = Object.keys(columns).filter((k) => !inputs.includes(k))
  if (unknown.length) {
    throw new InputError(`${file}: unknown input column${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (the program's inputs are: ${inputs.join(', ') || 'none'})`)
  }
  const missing = inputs.filter((k) => !(k in columns))
  if (missing.length) throw new InputError(`${file}: no column for input${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`)
  return Object.fromEntries(inputs.map((k) => [k, columns[k]!]))
}

/** Shortest decimal text that reads back as the same float32; NaN / Infinity / -Infinity as words. */
export function formatF32(x: number): string {
  if (!Number.isFinite(x)) return String(x)
  for (let p = 6; p < 9; p++) {
    const s = Number(x.toPrecision(p))
    if (Math.fround(s) === x) return String(s)
  }
  return String(Number(x.toPrecision(9)))
}

/** What the CLI writes: the bindings used and, per output, its values and its Jacobian rows. */
export interface ResultTable {
  readonly size: number
  readonly backend: string
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly bindings: Readonly<Record<string, ArrayLike<number> | number>>
  readonly values: Readonly<Record<string, ArrayLike<number>>>
  readonly jacobian: Readonly<Record<string, Readonly<Record<string, ArrayLike<number>>>>>
}

/** Rows written per write call: bounded memory whatever the batch size. */
const BLOCK = 1 << 13

/**
 * Writes results as CSV (columns: inputs, then per output its value and d<out>/d<input>) or JSON
 * (`{ backend, size, inputs, values, jacobian }`, whose `inputs` is itself a valid --inputs file).
 * `onRows` reports progress.
 */
export function writeResults(path: string, table: ResultTable, onRows: (done: number) => void = () => {}): void {
  const format = formatOf(path)
  if (!format) throw new InputError(`${path}: results can be written as .csv or .json`)
  let fd: number
  try {
    fd = openSync(path, 'w')
  } catch (e) {
    throw new InputError(`cannot write '${path}': ${(e as Error).message}`)
  }
  try {
    if (format === 'csv') writeCsv(fd, table, onRows)
    else writeJson(fd, table, onRows)
  } finally {
    closeSync(fd)
  }
}

/** Formats an array's numbers: float32 values as the shortest float32 text, others as JavaScript prints them. */
function formatter(a: ArrayLike<number> | number): (i: number) => string {
  if (typeof a === 'number') {
    const s = String(a)
    return () => s
  }
  return a instanceof Float32Array ? (i) => formatF32(a[i]!) : (i) => String(a[i]!)
}

function writeCsv(fd: number, t: ResultTable, onRows: (done: number) => void): void {
  const cols: { name: string; at: (i: number) => string }[] = []
  for (const n of t.inputs) cols.push({ name: n, at: formatter(t.bindings[n]!) })
  for (const o of t.outputs) {
    cols.push({ name: o, at: formatter(t.values[o]!) })
    for (const n of t.inputs) cols.push({ name: `d${o}/d${n}`, at: formatter(t.jacobian[o]![n]!) })
  }
  writeSync(fd, cols.map((c) => c.name).join(',') + '\n')
  for (let start = 0; start < t.size; start += BLOCK) {
    const end = Math.min(t.size, start + BLOCK)
    const lines: string[] = []
    for (let i = start; i < end; i++) lines.push(cols.map((c) => c.at(i)).join(','))
    writeSync(fd, lines.join('\n') + '\n')
    onRows(end)
  }
}

function writeJson(fd: number, t: ResultTable, onRows: (done: number) => void): void {
  const json = (s: string) => JSON.stringify(s)
  // JSON has no NaN or Infinity: those become the strings "NaN", "Infinity", "-Infinity".
  const num = (s: string) => (s === 'NaN' || s === 'Infinity' || s === '-Infinity' ? `"${s}"` : s)
  let written = 0
  const total = t.size * (t.inputs.length + t.outputs.length * (1 + t.inputs.length))
  const array = (a: ArrayLike<number> | number) => {
    const at = formatter(a)
    if (typeof a === 'number') return writeSync(fd, num(at(0)))
    writeSync(fd, '[')
    for (let start = 0; start < t.size; start += BLOCK) {
      const end = Math.min(t.size, start + BLOCK)
      const parts: string[] = []
      for (let i = start; i < end; i++) parts.push(num(at(i)))
      writeSync(fd, (start ? ',' : '') + parts.join(','))
      written += end - start
      onRows(Math.floor(written / Math.max(1, total / t.size)))
    }
    writeSync(fd, ']')
  }
  const object = (keys: readonly string[], each: (k: string) => void) => {
    writeSync(fd, '{')
    keys.forEach((k, i) => {
      writeSync(fd, `${i ? ', ' : ''}${json(k)}: `)
      each(k)
    })
    writeSync(fd, '}')
  }
  writeSync(fd, `{"backend": ${json(t.backend)}, "size": ${t.size},\n"inputs": `)
  object(t.inputs, (n) => array(t.bindings[n]!))
  writeSync(fd, ',\n"values": ')
  object(t.outputs, (o) => array(t.values[o]!))
  writeSync(fd, ',\n"jacobian": ')
  object(t.outputs, (o) => object(t.inputs, (n) => array(t.jacobian[o]![n]!)))
  writeSync(fd, '}\n')
}
