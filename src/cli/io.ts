/**
 * CLI input and output files. In: --inputs values (files, `name=file` for one column, '-' for
 * standard input); results to write. Out: one column per input (Float64Array, or Float32Array for
 * float32 backends and float32 files, or a number shared by every binding), checked against the
 * program's inputs; results written as CSV, JSON or .npy, block by block so that millions of rows
 * never build one giant string.
 *
 * Input formats (by extension; standard input by its first bytes):
 *   CSV   a header of input names, then one row of numbers per binding: `x,y\n1,2\n3,4`
 *         (blank lines and lines starting with # are skipped): csv.ts
 *   JSON  columns `{ "x": [1, 3], "y": [2, 4], "a": 0.5 }` (a number is shared by every binding),
 *         or rows `[{ "x": 1, "y": 2 }, { "x": 3, "y": 4 }]`, or a results file written by --out
 *         x.json (its "inputs": the same bindings again): json.ts
 *   .npy  a structured array (a column per field), or with `x=x.npy` a 1-D float array: npy.ts
 *   .f32  with `x=x.f32`: raw little-endian float32 numbers
 * Numbers may also be NaN, Infinity, -Infinity (in JSON as strings: "NaN", "Infinity", ...); the
 * CLI refuses them unless --allow-nan (`allowNaN: false`). Every error names the file and the line / row and column.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { constants } from 'node:buffer'
import { extname } from 'node:path'
import { InputError, type Columns, type ReadOptions } from './columns.js'
import { parseCsvChunks, writeCsv, type CsvColumn } from './csv.js'
import { parseJson, writeJson } from './json.js'
import { bufferSource, fileSource, isNpy, readF32, readNpy, writeNpy } from './npy.js'

export { InputError, parseNumber, type Columns, type ReadOptions } from './columns.js'
export { formatF32, parseCsv } from './csv.js'
export { parseJson } from './json.js'

/** Which format a path names, by extension; undefined for anything else. */
export function formatOf(path: string): 'csv' | 'json' | 'npy' | 'f32' | undefined {
  const ext = extname(path).toLowerCase()
  return ext === '.csv' ? 'csv' : ext === '.json' ? 'json' : ext === '.npy' ? 'npy' : ext === '.f32' ? 'f32' : undefined
}

/**
 * One --inputs value: a path (or '-'), or `name=path` binding one input to a one-column file. A
 * path that exists is a path even if it holds '='.
 *
 * @example
 * inputSpec('x=x.npy')   // { name: 'x', path: 'x.npy' }
 */
export function inputSpec(spec: string): { readonly name?: string; readonly path: string } {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(spec)
  if (!m || exists(spec)) return { path: spec }
  return { name: m[1]!, path: m[2]! }
}

function exists(path: string): boolean {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/** Text pieces of at most this many bytes: a file larger than one JavaScript string still reads. */
const TEXT_CHUNK = 1 << 24

/**
 * Reads one --inputs value: CSV, JSON, .npy (structured, or 1-D with `name=`), .f32 (with
 * `name=`), or '-' for standard input (an .npy by its magic bytes, else JSON if it starts with {
 * or [, else CSV; with `name=-`, .npy or raw float32).
 *
 * @example
 * readInputs('points.csv', { allowNaN: false })   // { x: Float64Array [...], y: ... }
 */
export function readInputs(spec: string, options: ReadOptions = {}): Columns {
  const { name, path } = inputSpec(spec)
  if (path === '-') return readStdin(name, options)
  const format = formatOf(path)
  if (!format) throw new InputError(`${path}: input files must end in .csv, .json, .npy or .f32`)
  if (name !== undefined && (format === 'csv' || format === 'json')) throw new InputError(`${name}=${path}: NAME=FILE binds one input to a one-column .npy or .f32 file; a ${format.toUpperCase()} file names its columns itself (--inputs ${path})`)
  if (name === undefined && format === 'f32') throw new InputError(`${path}: a .f32 file holds one unnamed column; name the input it binds: --inputs NAME=${path}`)
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    throw new InputError(`cannot read inputs '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
  }
  try {
    const size = fstatSync(fd).size
    if (format === 'npy') return readNpy(fileSource(fd, size), path, name, options)
    if (format === 'f32') return readF32(fileSource(fd, size), path, name!, options)
    if (format === 'csv') return parseCsvChunks(textChunks(fileSource(fd, size)), path, options)
    if (size > constants.MAX_STRING_LENGTH) throw new InputError(`${path}: ${size} bytes is more JSON than one JavaScript string holds; write the inputs as CSV or .npy`)
    return parseJson(readFileSync(fd, 'utf8'), path, options)
  } finally {
    closeSync(fd)
  }
}

function readStdin(name: string | undefined, options: ReadOptions): Columns {
  const bytes = readAll(0)
  const src = bufferSource(bytes)
  const file = '<stdin>'
  if (isNpy(bytes)) return readNpy(src, file, name, options)
  if (name !== undefined) return readF32(src, file, name, options)
  let i = 0
  while (i < bytes.length && (bytes[i] === 32 || bytes[i] === 9 || bytes[i] === 10 || bytes[i] === 13)) i++
  if (bytes[i] === 0x7b || bytes[i] === 0x5b) {
    if (bytes.length > constants.MAX_STRING_LENGTH) throw new InputError(`${file}: more JSON than one JavaScript string holds; write the inputs as CSV or .npy`)
    return parseJson(new TextDecoder().decode(bytes), file, options)
  }
  return parseCsvChunks(textChunks(src), file, options)
}

/** Every byte of a file descriptor (standard input: a pipe, a file or a terminal). */
function readAll(fd: number): Uint8Array {
  const parts: Buffer[] = []
  let total = 0
  for (;;) {
    const buf = Buffer.allocUnsafe(1 << 20)
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'EAGAIN') {
        // A non-blocking pipe with nothing yet: wait a little and read again.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
        continue
      }
      if (code === 'EOF') break
      throw new InputError(`cannot read standard input: ${(e as Error).message}`)
    }
    if (n === 0) break
    parts.push(buf.subarray(0, n))
    total += n
  }
  return Buffer.concat(parts, total)
}

/** UTF-8 text of a source, piece by piece. */
function* textChunks(src: { readonly size: number; read(offset: number, length: number): Uint8Array }): Generator<string> {
  const decoder = new TextDecoder()
  for (let at = 0; at < src.size; at += TEXT_CHUNK) yield decoder.decode(src.read(at, Math.min(TEXT_CHUNK, src.size - at)), { stream: true })
  yield decoder.decode()
}

/**
 * Checks file columns against the program's inputs: every input needs a column, and a column that
 * is not an input is an error (a typo would otherwise go unnoticed). Columns named in `results`
 * (a results file's outputs and derivatives, e.g. f and df/dx) are dropped: a results file reruns
 * its bindings.
 */
export function matchColumns(columns: Columns, inputs: readonly string[], file: string, results: readonly string[] = []): Columns {
  const unknown = Object.keys(columns).filter((k) => !inputs.includes(k) && !results.includes(k))
  if (unknown.length) {
    throw new InputError(`${file}: unknown input column${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (the program's inputs are: ${inputs.join(', ') || 'none'})`)
  }
  const missing = inputs.filter((k) => !(k in columns))
  if (missing.length) throw new InputError(`${file}: no column for input${missing.length > 1 ? 's' : ''} ${missing.map((k) => `'${k}'`).join(', ')}`)
  return Object.fromEntries(inputs.map((k) => [k, columns[k]!]))
}

/** What the CLI writes: the bindings used and, per output, its values, Jacobian rows and parameter gradients. */
export interface ResultTable {
  readonly size: number
  readonly backend: string
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly bindings: Readonly<Record<string, ArrayLike<number> | number>>
  readonly values: Readonly<Record<string, ArrayLike<number>>>
  /** Per-binding rows of the inputs that are not parameters. */
  readonly jacobian: Readonly<Record<string, Readonly<Record<string, ArrayLike<number>>>>>
  /** Parameter gradients, summed over the batch. */
  readonly gradients?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** The per-binding columns of a results table, in file order: inputs, then per output its value and d<out>/d<input>. */
export function resultColumns(t: ResultTable): CsvColumn[] {
  const cols: CsvColumn[] = t.inputs.map((n) => ({ name: n, data: t.bindings[n]! }))
  for (const o of t.outputs) {
    cols.push({ name: o, data: t.values[o]! })
    for (const n of t.inputs) if (t.jacobian[o]?.[n]) cols.push({ name: `d${o}/d${n}`, data: t.jacobian[o]![n]! })
  }
  return cols
}

/**
 * Writes results as CSV (columns: inputs, then per output its value and d<out>/d<input>), .npy (a
 * structured array with the same columns as fields) or JSON (`{ backend, size, inputs, values,
 * jacobian, gradients? }`, whose `inputs` is itself a valid --inputs file). `onRows` reports progress.
 */
export function writeResults(path: string, table: ResultTable, onRows: (done: number) => void = () => {}): void {
  const format = formatOf(path)
  if (format !== 'csv' && format !== 'json' && format !== 'npy') throw new InputError(`${path}: results can be written as .csv, .json or .npy`)
  let fd: number
  try {
    fd = openSync(path, 'w')
  } catch (e) {
    throw new InputError(`cannot write '${path}': ${(e as Error).message}`)
  }
  try {
    if (format === 'csv') writeCsv(fd, resultColumns(table), table.size, onRows)
    else if (format === 'npy') writeNpy(fd, resultColumns(table), table.size, onRows)
    else writeJson(fd, table, onRows)
  } catch (e) {
    // A full disk or a lost file system is the user's to fix, not an internal error.
    if (typeof (e as NodeJS.ErrnoException).code === 'string') throw new InputError(`cannot write '${path}': ${(e as Error).message}`)
    throw e
  } finally {
    closeSync(fd)
  }
}
