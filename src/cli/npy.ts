/**
 * NumPy .npy files and raw .f32 files for the CLI. In: bytes of a file (or of standard input);
 * columns to write. Out: columns by name; files NumPy reads with np.load.
 *
 * Reading (format versions 1.0, 2.0, 3.0; C order; little-endian):
 *   1-D '<f4' or '<f8'            one column (its name comes from the command line: x=x.npy)
 *   1-D structured [('x', '<f4'), ('y', '<f8'), ...]   one column per field
 *   raw .f32                      little-endian float32 numbers, nothing else
 * Writing: one 1-D structured array, a field per column, '<f4' for float32 columns and '<f8' for
 * float64 ones, so `r = np.load('results.npy'); r['df/dx']` is a column.
 */
import { readSync, writeSync } from 'node:fs'
import { InputError, type Columns, type ReadOptions } from './columns.js'
import { nonFinite } from './csv.js'

/** Bytes to read from: a file descriptor, or a buffer already in memory (standard input). */
export interface ByteSource {
  readonly size: number
  read(offset: number, length: number): Uint8Array
}

/** A ByteSource over an open file. */
export function fileSource(fd: number, size: number): ByteSource {
  return {
    size,
    read(offset, length) {
      const buf = Buffer.allocUnsafe(length)
      let done = 0
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done)
        if (n === 0) break
        done += n
      }
      return buf.subarray(0, done)
    },
  }
}

/** A ByteSource over bytes in memory. */
export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY

/** Whether bytes start like an .npy file. */
export function isNpy(head: Uint8Array): boolean {
  return MAGIC.every((b, i) => head[i] === b)
}

/** A field of a record: name, byte offset, float32 or float64. */
interface Field {
  readonly name: string
  readonly offset: number
  readonly bytes: 4 | 8
}

/**
 * Reads an .npy file: a 1-D float array (one column, named `name`) or a 1-D structured array (a
 * column per field). `reserve` is asked before the columns are allocated.
 *
 * @example
 * readNpy(fileSource(fd, size), 'x.npy', 'x')   // { x: Float32Array [...] }
 */
export function readNpy(src: ByteSource, file: string, name: string | undefined, options: ReadOptions = {}): Columns {
  const head = src.read(0, Math.min(src.size, 12))
  if (head.length < 10 || !isNpy(head)) throw new InputError(`${file}: not an .npy file (it does not start with \\x93NUMPY)`)
  const major = head[6]!
  if (major < 1 || major > 3) throw new InputError(`${file}: .npy format version ${major}.${head[7]} is not supported (1.0, 2.0 and 3.0 are)`)
  if (head.length < (major === 1 ? 10 : 12)) throw new InputError(`${file}: the .npy file ends inside its ${major}.${head[7]} preamble`)
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength)
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true)
  const start = (major === 1 ? 10 : 12) + headerLength
  if (start > src.size) throw new InputError(`${file}: the .npy header runs past the end of the file`)
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(src.read(major === 1 ? 10 : 12, headerLength))
  let header: unknown
  try {
    header = new PyLiteral(text).value()
  } catch (e) {
    throw new InputError(`${file}: cannot read the .npy header ${JSON.stringify(text.trim())}: ${(e as Error).message}`)
  }
  const h = header as { descr?: unknown; fortran_order?: unknown; shape?: unknown }
  if (typeof h !== 'object' || h === null || !Array.isArray(h.shape)) throw new InputError(`${file}: the .npy header has no shape: ${text.trim()}`)
  const shape = h.shape as unknown[]
  if (shape.length !== 1 || !Number.isSafeInteger(shape[0]) || (shape[0] as number) < 0) {
    throw new InputError(`${file}: holds an array of shape (${shape.join(', ')}); wavegrad reads 1-D arrays (one column) or 1-D structured arrays (named columns)`)
  }
  const rows = shape[0] as number
  const fields = fieldsOf(h.descr, file, name)
  const recordBytes = fields.reduce((n, f) => Math.max(n, f.offset + f.bytes), 0)
  if (start + rows * recordBytes > src.size) throw new InputError(`${file}: the header promises ${rows} records of ${recordBytes} bytes, the file is shorter`)
  return readRecords(src, start, rows, recordBytes, fields, file, options)
}

/** Reads a raw little-endian float32 file as one column `name`. */
export function readF32(src: ByteSource, file: string, name: string, options: ReadOptions = {}): Columns {
  if (src.size % 4 !== 0) throw new InputError(`${file}: ${src.size} bytes is not a whole number of float32 values (4 bytes each)`)
  return readRecords(src, 0, src.size / 4, 4, [{ name, offset: 0, bytes: 4 }], file, options)
}

function fieldsOf(descr: unknown, file: string, name: string | undefined): Field[] {
  const bytesOf = (d: unknown, what: string): 4 | 8 => {
    if (d === '<f4' || d === '<f8') return d === '<f4' ? 4 : 8
    throw new InputError(`${file}: ${what} has dtype ${JSON.stringify(d)}; wavegrad reads little-endian float32 ('<f4') and float64 ('<f8')`)
  }
  if (typeof descr === 'string') {
    const bytes = bytesOf(descr, 'the array')
    if (name === undefined) throw new InputError(`${file}: holds one unnamed column; name the input it binds: --inputs NAME=${file}`)
    return [{ name, offset: 0, bytes }]
  }
  if (!Array.isArray(descr)) throw new InputError(`${file}: the .npy header's descr is ${JSON.stringify(descr)}, not a dtype`)
  if (name !== undefined) throw new InputError(`${file}: holds named columns (a structured array): give it as --inputs ${file}, without ${name}=`)
  let offset = 0
  const seen = new Set<string>()
  return descr.map((f: unknown) => {
    if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== 'string') throw new InputError(`${file}: field ${JSON.stringify(f)} of the structured dtype is not ('name', '<f4' | '<f8')`)
    if (seen.has(f[0])) throw new InputError(`${file}: the structured dtype names field '${f[0]}' twice`)
    seen.add(f[0])
    const bytes = bytesOf(f[1], `field '${f[0]}'`)
    const field = { name: f[0], offset, bytes }
    offset += bytes
    return field
  })
}

/** Records per read: a few MB at a time, however large the file. */
const READ_RECORDS = 1 << 18

function readRecords(src: ByteSource, start: number, rows: number, recordBytes: number, fields: readonly Field[], file: string, options: ReadOptions): Columns {
  options.reserve?.(rows, fields.length)
  const columns = fields.map((f) => (options.float32 || f.bytes === 4 ? new Float32Array(rows) : new Float64Array(rows)))
  for (let r0 = 0; r0 < rows; r0 += READ_RECORDS) {
    const n = Math.min(READ_RECORDS, rows - r0)
    const bytes = src.read(start + r0 * recordBytes, n * recordBytes)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    fields.forEach((f, c) => {
      const col = columns[c]!
      for (let r = 0, at = f.offset; r < n; r++, at += recordBytes) col[r0 + r] = f.bytes === 4 ? view.getFloat32(at, true) : view.getFloat64(at, true)
      if (options.allowNaN === false) {
        for (let r = 0, at = f.offset; r < n; r++, at += recordBytes) if (!Number.isFinite(col[r0 + r]!)) throw nonFinite(`${file}: record ${r0 + r + 1}, column '${f.name}',`, f.bytes === 4 ? view.getFloat32(at, true) : view.getFloat64(at, true), col instanceof Float32Array)
      }
    })
  }
  return Object.fromEntries(fields.map((f, c) => [f.name, columns[c]!]))
}

/** A column to write: its name and its numbers ('<f4' for a Float32Array, '<f8' for other arrays, or one number for every record). */
export interface NpyColumn {
  readonly name: string
  readonly data: ArrayLike<number> | number
}

/** The header of a 1-D structured array (format 1.0, or 2.0 when it does not fit 1.0's 64 KiB). */
export function npyHeader(fields: readonly { name: string; bytes: 4 | 8 }[], rows: number): Uint8Array {
  const descr = fields.map((f) => `(${pyString(f.name)}, '<f${f.bytes}')`).join(', ')
  let dict = `{'descr': [${descr}], 'fortran_order': False, 'shape': (${rows},), }`
  const v1 = dict.length + 80 <= 65535
  const prefix = v1 ? 10 : 12
  // The data starts on a 64-byte boundary; the header ends with a newline.
  dict += ' '.repeat((64 - ((prefix + dict.length + 1) % 64)) % 64) + '\n'
  const out = new Uint8Array(prefix + dict.length)
  out.set(MAGIC)
  out[6] = v1 ? 1 : 2
  out[7] = 0
  const view = new DataView(out.buffer)
  if (v1) view.setUint16(8, dict.length, true)
  else view.setUint32(8, dict.length, true)
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i)
  return out
}

function pyString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** Records per write. */
const WRITE_RECORDS = 1 << 16

/** Writes the columns as one 1-D structured array to the open file `fd`; `onRows` reports progress. */
export function writeNpy(fd: number, columns: readonly NpyColumn[], rows: number, onRows: (done: number) => void): void {
  // A shared number takes the width of the widest array column.
  const wide = columns.some((c) => typeof c.data !== 'number' && !(c.data instanceof Float32Array))
  const fields = columns.map((c) => ({ name: c.name, bytes: (c.data instanceof Float32Array || (typeof c.data === 'number' && !wide) ? 4 : 8) as 4 | 8 }))
  writeSync(fd, npyHeader(fields, rows))
  const recordBytes = fields.reduce((n, f) => n + f.bytes, 0)
  const buf = Buffer.alloc(WRITE_RECORDS * recordBytes)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  for (let r0 = 0; r0 < rows; r0 += WRITE_RECORDS) {
    const n = Math.min(WRITE_RECORDS, rows - r0)
    let offset = 0
    columns.forEach((c, k) => {
      const bytes = fields[k]!.bytes
      const d = c.data
      for (let r = 0, at = offset; r < n; r++, at += recordBytes) {
        const v = typeof d === 'number' ? d : d[r0 + r]!
        if (bytes === 4) view.setFloat32(at, v, true)
        else view.setFloat64(at, v, true)
      }
      offset += bytes
    })
    writeSync(fd, buf, 0, n * recordBytes)
    onRows(r0 + n)
  }
}

/** A Python literal as NumPy writes headers: dicts, tuples, lists, strings, integers, True/False/None. */
class PyLiteral {
  #at = 0
  constructor(readonly text: string) {}

  value(): unknown {
    const v = this.#value()
    this.#space()
    if (this.#at !== this.text.length) throw new Error(`unexpected '${this.text.slice(this.#at, this.#at + 10)}'`)
    return v
  }

  #space(): void {
    while (this.#at < this.text.length && /\s/.test(this.text[this.#at]!)) this.#at++
  }

  #value(): unknown {
    this.#space()
    const c = this.text[this.#at]
    if (c === '{' || c === '[' || c === '(') return this.#sequence(c)
    if (c === "'" || c === '"') return this.#string(c)
    const m = /^(-?\d+|True|False|None)/.exec(this.text.slice(this.#at))
    if (!m) throw new Error(`unexpected '${this.text.slice(this.#at, this.#at + 10)}'`)
    this.#at += m[0].length
    return m[0] === 'True' ? true : m[0] === 'False' ? false : m[0] === 'None' ? null : Number(m[0])
  }

  #sequence(open: string): unknown {
    const close = open === '{' ? '}' : open === '[' ? ']' : ')'
    this.#at++
    const items: unknown[] = []
    const dict: Record<string, unknown> = {}
    for (;;) {
      this.#space()
      if (this.text[this.#at] === close) break
      const item = this.#value()
      if (open === '{') {
        this.#space()
        if (this.text[this.#at++] !== ':') throw new Error("expected ':'")
        dict[String(item)] = this.#value()
      } else items.push(item)
      this.#space()
      if (this.text[this.#at] === ',') this.#at++
      else if (this.text[this.#at] !== close) throw new Error(`expected ',' or '${close}'`)
    }
    this.#at++
    return open === '{' ? dict : items
  }

  #string(quote: string): string {
    let s = ''
    for (this.#at++; this.#at < this.text.length && this.text[this.#at] !== quote; this.#at++) {
      if (this.text[this.#at] === '\\') this.#at++
      s += this.text[this.#at]
    }
    if (this.#at >= this.text.length) throw new Error('unterminated string')
    this.#at++
    return s
  }
}
