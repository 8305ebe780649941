/**
 * CSV for the CLI. In: CSV text (whole, or in chunks: files and standard input are read piece by
 * piece, so a file longer than a JavaScript string still parses); results to write. Out: one
 * Float64Array per column (or Float32Array, rounded on the way, for float32 backends), checked cell
 * by cell; CSV lines written block by block, float32 numbers as their shortest round-trip text.
 *
 * Reading: a header of input names, then one row of numbers per binding (`x,y\n1,2\n3,4`); blank
 * lines and lines starting with # are skipped. Every error names the file, the line and the column.
 */
import { writeSync } from 'node:fs'
import { InputError, parseNumber, type Columns, type ReadOptions } from './columns.js'

/** Rows stored per block while reading (blocks are joined, and dropped one by one, at the end). */
const READ_BLOCK = 1 << 20
const FIRST_BLOCK = 1 << 12

/**
 * Parses CSV input text: header of names, one row of numbers per binding.
 *
 * @example
 * parseCsv('x,y\n1,2\n3,4', 'data.csv')   // { x: Float64Array [1, 3], y: Float64Array [2, 4] }
 */
export function parseCsv(text: string, file: string, options: ReadOptions = {}): Columns {
  return parseCsvChunks([text], file, options)
}

/** Parses CSV text that arrives in pieces (a line may span pieces). */
export function parseCsvChunks(chunks: Iterable<string>, file: string, options: ReadOptions = {}): Columns {
  const allowNaN = options.allowNaN ?? true
  const f32 = options.float32 ?? false
  let names: string[] | undefined
  let lineNo = 0
  let rows = 0
  let blocks: Float64Array[][] = []
  const starts: number[] = []
  let filled = 0
  const line = (text: string) => {
    lineNo++
    const t = text.trim()
    if (t === '' || t.startsWith('#')) return
    const fields = text.split(',')
    if (!names) {
      names = fields.map((n) => n.trim().replace(/^"(.*)"$/, '$1').trim())
      names.forEach((n, i) => {
        if (!n) throw new InputError(`${file}:${lineNo}: column ${i + 1} of the header has no name`)
        if (names!.indexOf(n) !== i) throw new InputError(`${file}:${lineNo}: column '${n}' appears twice in the header`)
      })
      return
    }
    if (fields.length !== names.length) {
      throw new InputError(`${file}:${lineNo}: this row has ${fields.length} field${fields.length === 1 ? '' : 's'}, the header has ${names.length} (${names.join(', ')})`)
    }
    if (rows === filled) {
      // Blocks grow from FIRST_BLOCK rows to READ_BLOCK: a small file allocates little.
      const n = Math.min(READ_BLOCK, Math.max(FIRST_BLOCK, filled))
      options.reserve?.(filled + n, names.length, true)
      blocks.push(names.map(() => new Float64Array(n)))
      starts.push(filled)
      filled += n
    }
    const block = blocks[blocks.length - 1]!
    const at = rows - starts[starts.length - 1]!
    for (let c = 0; c < fields.length; c++) {
      const f = fields[c]!
      const v = parseNumber(f)
      if (v === undefined) throw new InputError(`${file}:${lineNo}: column ${c + 1} ('${names[c]}'): '${f.trim()}' is not a number`)
      if (!allowNaN && !Number.isFinite(f32 ? Math.fround(v) : v)) throw nonFinite(`${file}:${lineNo}: column '${names[c]}'`, v, f32)
      block[c]![at] = v
    }
    rows++
  }
  let rest = ''
  for (const chunk of chunks) {
    const text = rest + chunk
    let start = 0
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      line(text.slice(start, nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl))
      start = nl + 1
    }
    rest = text.slice(start)
  }
  if (rest !== '') line(rest.endsWith('\r') ? rest.slice(0, -1) : rest)
  if (!names) throw new InputError(`${file}: no header line (expected the input names, e.g. x,y)`)
  // Blocks are copied into one array per column and released as they go.
  const Out = options.float32 ? Float32Array : Float64Array
  const columns = names.map(() => new Out(rows))
  for (let b = 0; b < blocks.length; b++) {
    const start = starts[b]!
    blocks[b]!.forEach((col, c) => columns[c]!.set(col.subarray(0, Math.min(col.length, rows - start)), start))
    blocks[b] = []
  }
  blocks = []
  return Object.fromEntries(names.map((n, i) => [n, columns[i]!]))
}

/**
 * The error for a NaN or infinite input when --allow-nan is not given (`float32`: read for a
 * float32 backend, where a finite number beyond ±3.4e38 becomes infinite).
 */
export function nonFinite(where: string, v: number, float32 = false): InputError {
  const beyond = float32 && Number.isFinite(v) ? `, beyond float32's range (±3.4e38): it would be ${Math.fround(v)} on this backend` : ''
  return new InputError(`${where} is ${v}${beyond} (pass --allow-nan to evaluate NaN and infinite inputs)`)
}

/** Exact powers of ten (10^0 … 10^22 are exact doubles). */
const P10 = Array.from({ length: 23 }, (_, k) => 10 ** k)

/**
 * Shortest decimal text that reads back as the same float32; NaN / Infinity / -Infinity as words.
 *
 * A candidate of p digits is n·10^-k, computed as n / 10^k or n · 10^k with both operands exact
 * doubles: one correctly rounded operation, so it equals what its text parses to, and String() of
 * it is that text. Random float32 numbers mostly need 8 digits (then 7, then 9): p = 8 is tried
 * first, and if a candidate of p digits reads back, so does the nearest one of p + 1.
 *
 * @example
 * formatF32(Math.fround(0.1))   // '0.1'
 */
export function formatF32(x: number): string {
  const n = shortestF32(x)
  if (n < 0) return fallbackF32(x)
  return String(x < 0 ? -found.v : found.v)
}

/** A float32's bits, for its binary exponent. */
const BITS_F32 = new Float32Array(1)
const BITS_U32 = new Uint32Array(BITS_F32.buffer)

/** The last shortestF32 result: digits n, the double v = n·10^-k, e = floor(log10 |x|). */
const found = { n: 0, k: 0, v: 0, e: 0 }

/**
 * Finds the shortest p-digit n with n·10^-k reading back as |x| (into `found`); returns n, or -1
 * where this fast path does not apply (zero, NaN, ±Infinity, subnormal or far exponents).
 */
function shortestF32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return -1
  const a = x < 0 ? -x : x
  // e = floor(log10 a), from the binary exponent (log10 2 = 0.30103) and one comparison.
  BITS_F32[0] = a
  let e = Math.floor((((BITS_U32[0]! >>> 23) & 255) - 127) * 0.30102999566398120)
  // Candidates need exact powers 10^|k|, k = p - 1 - e for p = 6 … 9.
  if (e > 27 || e < -14) return -1
  if (a >= (e + 1 >= 0 ? P10[e + 1]! : 1 / P10[-e - 1]!)) e++
  found.e = e
  const k8 = 7 - e
  if (candidate(a, k8)) {
    if (!candidate(a, k8 - 1)) candidate(a, k8)
    else if (!candidate(a, k8 - 2)) candidate(a, k8 - 1)
  } else if (!candidate(a, k8 + 1)) return -1
  return found.n
}

/** Sets `found` to n = round(a · 10^k) and v, the double nearest n·10^-k (|k| ≤ 22); whether v reads back as a in float32. */
function candidate(a: number, k: number): boolean {
  let n: number
  let v: number
  if (k >= 0) {
    const p = P10[k]!
    n = Math.round(a * p)
    v = n / p
  } else {
    const p = P10[-k]!
    n = Math.round(a / p)
    v = n * p
  }
  found.n = n
  found.k = k
  found.v = v
  return Math.fround(v) === a
}

/**
 * Writes formatF32(x) as ASCII into `buf` at `at`; returns the end. The same text as String() of
 * the double n·10^-k, built from n's digits: fixed notation for exponents -6 … 20, exponent notation
 * otherwise, no trailing zeros.
 */
export function writeF32(buf: Uint8Array, at: number, x: number): number {
  let n = shortestF32(x)
  if (n < 0) return writeAscii(buf, at, fallbackF32(x))
  let k = found.k
  // n has k + e + 1 digits (a in [10^e, 10^(e+1))), one more where it rounded up to a power of ten.
  let len = k + found.e + 1
  if (n >= P10[len]!) len++
  while (n % 10 === 0) {
    n = (n / 10) | 0
    k--
    len--
  }
  const e = len - 1 - k
  if (x < 0) buf[at++] = 45 // '-'
  if (e < -6 || e >= 21) {
    at = digits(buf, at, n, len, 1)
    buf[at++] = 101 // 'e'
    buf[at++] = e < 0 ? 45 : 43
    return writeAscii(buf, at, String(e < 0 ? -e : e))
  }
  if (k <= 0) {
    at = digits(buf, at, n, len, 0)
    for (let z = 0; z < -k; z++) buf[at++] = 48
    return at
  }
  if (k < len) return digits(buf, at, n, len, len - k)
  buf[at++] = 48
  buf[at++] = 46
  for (let z = 0; z < k - len; z++) buf[at++] = 48
  return digits(buf, at, n, len, 0)
}

/** Writes the `len` digits of n, with a '.' after the first `point` of them (none for 0 or len). */
function digits(buf: Uint8Array, at: number, n: number, len: number, point: number): number {
  const dot = point > 0 && point < len
  let i = at + len + (dot ? 1 : 0)
  const end = i
  for (let d = len; d > 0; d--) {
    if (dot && d === point) buf[--i] = 46
    const q = (n / 10) | 0
    buf[--i] = 48 + n - q * 10
    n = q
  }
  return end
}

function writeAscii(buf: Uint8Array, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i)
  return at
}

/** formatF32 the slow way (toPrecision), for what shortestF32 does not handle. */
function fallbackF32(x: number): string {
  if (!Number.isFinite(x) || x === 0) return x === 0 ? '0' : String(x)
  // Subnormal numbers have fewer significant bits: their shortest text may have fewer than 6 digits.
  for (let p = Math.abs(x) < 2 ** -126 ? 1 : 6; p < 9; p++) {
    const s = Number(x.toPrecision(p))
    if (Math.fround(s) === x) return String(s)
  }
  return String(Number(x.toPrecision(9)))
}

/** A column to write: its header name and its numbers (an array, or one number for every row). */
export interface CsvColumn {
  readonly name: string
  readonly data: ArrayLike<number> | number
}

/** Rows formatted per write: a few MB per write call, whatever the batch size. */
const WRITE_BLOCK = 1 << 15
/** Longest text of one number: String() of a double is at most 25 characters. */
const MAX_TEXT = 32

/** Formats an array's numbers: float32 values as the shortest float32 text, others as JavaScript prints them. */
export function formatter(a: ArrayLike<number> | number): (i: number) => string {
  if (typeof a === 'number') {
    const s = String(a)
    return () => s
  }
  return a instanceof Float32Array ? (i) => formatF32(a[i]!) : (i) => String(a[i]!)
}

/**
 * Writes a header line and `size` rows to the open file `fd`, block by block into one reused byte
 * buffer (float32 numbers are written as bytes directly: no string per number); `onRows` reports
 * progress.
 */
export function writeCsv(fd: number, columns: readonly CsvColumn[], size: number, onRows: (done: number) => void): void {
  writeSync(fd, columns.map((c) => c.name).join(',') + '\n')
  const buf = Buffer.allocUnsafe(WRITE_BLOCK * columns.length * MAX_TEXT)
  const last = columns.length - 1
  // Per column: float32 numbers (written as bytes), other numbers (as String() writes them), or one text for every row.
  const f32 = columns.map((c) => (c.data instanceof Float32Array ? c.data : undefined))
  const other = columns.map((c) => (typeof c.data === 'number' || c.data instanceof Float32Array ? undefined : c.data))
  const fixed = columns.map((c) => (typeof c.data === 'number' ? String(c.data) : ''))
  for (let start = 0; start < size; start += WRITE_BLOCK) {
    const end = Math.min(size, start + WRITE_BLOCK)
    let at = 0
    for (let i = start; i < end; i++) {
      for (let c = 0; c <= last; c++) {
        const a = f32[c]
        if (a !== undefined) at = writeF32(buf, at, a[i]!)
        else {
          const o = other[c]
          at = writeAscii(buf, at, o === undefined ? fixed[c]! : String(o[i]!))
        }
        buf[at++] = c === last ? 10 : 44
      }
    }
    writeSync(fd, buf, 0, at)
    onRows(end)
  }
}
