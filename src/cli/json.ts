/**
 * JSON for the CLI. In: JSON text of input bindings; results to write. Out: one column per name
 * (Float64Array, or Float32Array for float32 backends, or a number shared by every binding);
 * results as `{ backend, size, inputs, values, jacobian, gradients? }`, numbers written block by
 * block. JSON has no NaN or Infinity: they are the strings "NaN", "Infinity", "-Infinity" both ways.
 */
import { writeSync } from 'node:fs'
import { InputError, parseNumber, type Columns, type ReadOptions } from './columns.js'
import { formatter, nonFinite } from './csv.js'
import type { ResultTable } from './io.js'

/** Numbers written per write call: bounded memory whatever the batch size. */
const BLOCK = 1 << 13

/**
 * Parses JSON input text: an object of columns (arrays, or numbers shared by every binding) or an
 * array of row objects with the same keys.
 *
 * @example
 * parseJson('{"x": [1, 3], "a": 2}', 'in.json')   // { x: Float64Array [1, 3], a: 2 }
 * parseJson('[{"x": 1}, {"x": 3}]', 'in.json')     // { x: Float64Array [1, 3] }
 */
export function parseJson(text: string, file: string, options: ReadOptions = {}): Columns {
  const allowNaN = options.allowNaN ?? true
  const Out = options.float32 ? Float32Array : Float64Array
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (e) {
    throw new InputError(`${file}: not valid JSON: ${(e as Error).message}`)
  }
  const value = (v: unknown, where: string): number => {
    const n = typeof v === 'number' ? v : typeof v === 'string' ? parseNumber(v) : undefined
    if (n === undefined) throw new InputError(`${file}: ${where} is ${JSON.stringify(v) ?? String(v)}, not a number`)
    if (!allowNaN && !Number.isFinite(options.float32 ? Math.fround(n) : n)) throw nonFinite(`${file}: ${where}`, n, options.float32)
    return n
  }
  if (Array.isArray(data)) {
    const first = data[0]
    if (!isRecord(first)) throw new InputError(`${file}: a JSON array must hold one object per binding, like [{"x": 1, "y": 2}]${data.length ? `; row 1 is ${JSON.stringify(first)}` : ' (it is empty)'}`)
    const names = Object.keys(first)
    options.reserve?.(data.length, names.length)
    const columns = names.map(() => new Out(data.length))
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
      const read = (v: unknown, i: number) => value(v, `'${name}'[${i}]`)
      out[name] = options.float32 ? Float32Array.from(col, read) : Float64Array.from(col, read)
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

/** Writes a results table as JSON to the open file `fd`; `onRows` reports progress. */
export function writeJson(fd: number, t: ResultTable, onRows: (done: number) => void): void {
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
  object(t.outputs, (o) => object(t.inputs.filter((n) => t.jacobian[o]?.[n]), (n) => array(t.jacobian[o]![n]!)))
  const gradients = t.gradients
  if (gradients) {
    writeSync(fd, ',\n"gradients": ')
    object(Object.keys(gradients), (o) => object(Object.keys(gradients[o]!), (p) => writeSync(fd, num(String(gradients[o]![p]!)))))
  }
  writeSync(fd, '}\n')
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}
