/**
 * The `wavegrad` CLI with real data: .npy and .f32 files, standard input, NaN in inputs, --set and
 * parameter gradients, --backend auto, memory checks before allocating, "did you mean", and the
 * CSV writer's float32 text. Commands run from source through tsx (no GPU: --backend cpu, or auto
 * without a Vulkan driver). .npy files are read and written here from the NumPy format
 * specification, not with the CLI's own reader; expected numbers come from evaluateCpu or by hand.
 */
import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createCpuEngine, evaluateCpu, parse } from '../src/index.js'
import { formatF32, writeCsv, writeF32 } from '../src/cli/csv.js'
import { checkMemory, formatBytes, MemoryError, parseMemory } from '../src/cli/memory.js'
import { evaluateChunked } from '../src/cli/run.js'
import { closest, editDistance } from '../src/cli/usage.js'
import { rng } from './core/helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
let data = ''
beforeAll(() => {
  data = mkdtempSync(join(tmpdir(), 'wavegrad-cli-formats-'))
})
afterAll(() => {
  if (data) rmSync(data, { recursive: true, force: true })
})

/** The CLI from source, as in development; `env` adds variables, `input` is standard input. */
function cli(args: string[], options: { env?: Record<string, string>; input?: string | Uint8Array } = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...options.env }, timeout: 120_000, ...(options.input === undefined ? {} : { input: options.input }) })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
/** No Vulkan driver: WebGPU has no adapter, so --backend auto runs on the CPU engine alone. */
const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/icd.json' }

const path = (name: string) => join(data, name)
const ROSENBROCK = 'f = (1-x)^2 + 100*(y-x^2)^2'

/** An .npy file, read by the format specification (magic, version, header length, dict, data). */
function readNpySpec(file: string) {
  const b = readFileSync(file)
  expect([...b.subarray(0, 6)]).toEqual([0x93, ...Buffer.from('NUMPY')])
  const major = b[6]!
  const start = major === 1 ? 10 : 12
  const length = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8)
  const header = b.toString('latin1', start, start + length)
  expect((start + length) % 64, 'data starts on a 64-byte boundary').toBe(0)
  expect(header.endsWith('\n')).toBe(true)
  expect(header).toMatch(/'fortran_order': False/)
  const shape = /'shape': \((\d+),\)/.exec(header)
  expect(shape, header).not.toBeNull()
  const rows = Number(shape![1])
  const fields = [...header.matchAll(/\('([^']*)', '([<>|][a-z]\d)'\)/g)].map((m) => ({ name: m[1]!, descr: m[2]! }))
  const record = fields.reduce((n, f) => n + Number(f.descr.slice(2)), 0)
  expect(b.length).toBe(start + length + rows * record)
  const view = new DataView(b.buffer, b.byteOffset + start + length)
  const columns: Record<string, number[]> = {}
  let offset = 0
  for (const f of fields) {
    const size = Number(f.descr.slice(2))
    columns[f.name] = Array.from({ length: rows }, (_, r) => (size === 4 ? view.getFloat32(r * record + offset, true) : view.getFloat64(r * record + offset, true)))
    offset += size
  }
  return { version: major, header, rows, fields, columns }
}

/** A 1-D float .npy file, written by the specification (version 1.0, or 2.0 with its 4-byte length). */
function writeNpySpec(file: string, values: number[], descr: '<f4' | '<f8', version: 1 | 2 = 1): void {
  const start = version === 1 ? 10 : 12
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${values.length},), }`
  dict += ' '.repeat(63 - ((start + dict.length) % 64)) + '\n'
  const head = Buffer.alloc(start + dict.length)
  Buffer.from([0x93, ...Buffer.from('NUMPY'), version, 0]).copy(head)
  if (version === 1) head.writeUInt16LE(dict.length, 8)
  else head.writeUInt32LE(dict.length, 8)
  head.write(dict, start, 'latin1')
  const body = descr === '<f4' ? Buffer.from(Float32Array.from(values).buffer) : Buffer.from(Float64Array.from(values).buffer)
  writeFileSync(file, Buffer.concat([head, body]))
}

describe('float32 text', () => {
  test('the byte writer and formatF32 agree, read back exactly, and are as short as toPrecision allows', () => {
    const r = rng(11)
    const buf = new Uint8Array(64)
    const shortest = (x: number) => {
      for (let p = 1; p <= 9; p++) if (Math.fround(Number(x.toPrecision(p))) === x) return p
      return 99
    }
    const xs = [1e-45, -1.1754942e-38, 3.4028235e38, 1e-7, 9.9999994e-8, 1e21, 1e20, 123456789, 16777216, 0.1, 100, 2.5e-6].map(Math.fround)
    // Random exponents over the whole float32 range (subnormal ones included); overflow and underflow skipped.
    for (let i = 0; i < 20_000; i++) xs.push(Math.fround((r() - 0.5) * 10 ** Math.floor(r() * 90 - 46)))
    xs.splice(0, xs.length, ...xs.filter((x) => Number.isFinite(x) && x !== 0))
    for (const x of xs) {
      const text = new TextDecoder().decode(buf.subarray(0, writeF32(buf, 0, x)))
      expect(text).toBe(formatF32(x))
      expect(Math.fround(Number(text))).toBe(x)
      const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length
      expect(digits, `${x} -> ${text}`).toBe(shortest(Math.abs(x)))
    }
    for (const [x, text] of [[NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [0, '0']] as const) {
      expect(new TextDecoder().decode(buf.subarray(0, writeF32(buf, 0, x)))).toBe(text)
    }
  })

  test('CSV written block by block re-reads as the same float32 numbers; float64 and shared columns as JavaScript prints them', () => {
    const r = rng(5)
    const n = 70_000 // more than two write blocks
    const a = Float32Array.from({ length: n }, () => (r() - 0.5) * 10 ** Math.floor(r() * 12 - 6))
    a[3] = NaN
    a[4] = -Infinity
    const b = Float64Array.from({ length: n }, () => r() * 1e3)
    const file = path('block.csv')
    const fd = openSync(file, 'w')
    const ticks: number[] = []
    writeCsv(fd, [{ name: 'a', data: a }, { name: 'b', data: b }, { name: 'k', data: 0.25 }], n, (done) => ticks.push(done))
    closeSync(fd)
    expect(ticks.at(-1)).toBe(n)
    const [head, ...lines] = readFileSync(file, 'utf8').split('\n')
    expect(head).toBe('a,b,k')
    expect(lines.pop()).toBe('')
    expect(lines.length).toBe(n)
    lines.forEach((line, i) => {
      const [x, y, k] = line.split(',')
      expect(Object.is(Math.fround(Number(x)), a[i]), `row ${i}: ${x}`).toBe(true)
      expect(Number(y)).toBe(b[i])
      expect(k).toBe('0.25')
    })
  })
})

describe('memory and command-line helpers', () => {
  test('memory sizes parse and print; the check names need, formula and limit', () => {
    expect(parseMemory('12G')).toBe(12 * 2 ** 30)
    expect(parseMemory('512MiB')).toBe(512 * 2 ** 20)
    expect(parseMemory('1.5g')).toBe(1.5 * 2 ** 30)
    expect(parseMemory('1000')).toBe(1000)
    expect(parseMemory('lots')).toBeUndefined()
    expect(parseMemory('0')).toBeUndefined()
    expect(formatBytes(96 * 2 ** 30)).toBe('96 GiB')
    expect(formatBytes(12.4 * 2 ** 30)).toBe('12.4 GiB')
    // 2^32 bindings × (3 inputs + 9 rows) × 4 bytes = 192 GiB, by hand.
    const terms = [
      { count: 3, bytes: 4, what: 'inputs' },
      { count: 9, bytes: 4, what: 'rows' },
    ]
    expect(() => checkMemory('--batch 2^32', terms, 2 ** 32, 0, 12 * 2 ** 30)).toThrow('--batch 2^32 needs 192 GiB of host memory: (3 inputs + 9 rows) × 4 bytes × 4,294,967,296 bindings; the limit is 12 GiB (--max-memory)')
    expect(() => checkMemory('--batch 2^20', terms, 2 ** 20, 0, 12 * 2 ** 30)).not.toThrow()
    expect(() => checkMemory('--batch 2^33', terms, 2 ** 33, 0, 2 ** 60)).toThrow(/more than one JavaScript typed array holds/)
    expect(() => checkMemory('x', [{ count: 1, bytes: 8, what: 'inputs' }, { count: 2, bytes: 4, what: 'rows' }], 2 ** 30, 2 ** 20, 2 ** 30)).toThrow(MemoryError)
    expect(() => checkMemory('x', [{ count: 1, bytes: 8, what: 'inputs' }, { count: 2, bytes: 4, what: 'rows' }], 2 ** 30, 2 ** 20, 2 ** 30)).toThrow('(1 input × 8 bytes + 2 rows × 4 bytes) × 1,073,741,824 bindings + 1 MiB of buffers')
  })

  test('typos are matched to the nearest known name, and only plausible ones', () => {
    expect(editDistance('bach', 'batch')).toBe(1)
    expect(editDistance('ab', 'ba')).toBe(1)
    expect(closest('--bach', ['--batch', '--backend', '--range'])).toBe('--batch')
    expect(closest('--bakend', ['--batch', '--backend'])).toBe('--backend')
    expect(closest('evl', ['eval', 'info', 'help'])).toBe('eval')
    expect(closest('--frobnicate', ['--batch', '--backend'])).toBeUndefined()
    expect(closest('q', ['x', 'y'])).toBeUndefined()
  })

  test('chunked runs add parameter gradients over the chunks: the sums of evaluateCpu', async () => {
    const g = parse('param w; f = w*x^2 + sin(x)')
    const r = rng(2)
    const x = Float64Array.from({ length: 2500 }, () => r() * 4 - 2)
    const kernel = createCpuEngine().compile(g)
    const got = await evaluateChunked((b) => kernel.run(b), { x, w: 1.5 }, x.length, 1000)
    const ref = evaluateCpu(g, { x, w: 1.5 })
    expect(got.size).toBe(2500)
    expect(Array.from(got.values.f!)).toEqual(Array.from(ref.values.f!))
    expect(Array.from(got.jacobian.f!.x!)).toEqual(Array.from(ref.jacobian.f!.x!))
    expect(Object.keys(got.jacobian.f!)).toEqual(['x'])
    // d f/dw = x^2, summed: the same sum in another order (three chunks).
    expect(got.gradients!.f!.w!).toBeCloseTo(ref.gradients!.f!.w!, 9)
    expect(got.gradients!.f!.w!).toBeCloseTo(x.reduce((s, v) => s + v * v, 0), 9)
  })
})

describe('wavegrad eval with files (spawned)', () => {
  test('--out .npy: one structured array, a float64 field per column from --backend cpu, equal to evaluateCpu; it reads back as --inputs', () => {
    const out = path('rosen.npy')
    const r = cli(['eval', ROSENBROCK, '--batch', '1000', '--seed', '4', '--range', 'x=-2:2', '--backend', 'cpu', '--out', out])
    expect(r.status, r.stderr).toBe(0)
    const npy = readNpySpec(out)
    expect(npy.version).toBe(1)
    expect(npy.rows).toBe(1000)
    expect(npy.fields).toEqual(['x', 'y', 'f', 'df/dx', 'df/dy'].map((name) => ({ name, descr: '<f8' })))
    const c = npy.columns
    expect(c.x!.every((v) => v >= -2 && v <= 2 && Math.fround(v) === v)).toBe(true)
    const ref = evaluateCpu(parse(ROSENBROCK), { x: c.x!, y: c.y! })
    expect(c.f).toEqual(Array.from(ref.values.f!))
    expect(c['df/dx']).toEqual(Array.from(ref.jacobian.f!.x!))
    expect(c['df/dy']).toEqual(Array.from(ref.jacobian.f!.y!))
    // The results file is an inputs file: its result fields are skipped, the bindings rerun.
    const again = cli(['eval', ROSENBROCK, '--inputs', out, '--backend', 'cpu', '--out', path('again.npy')])
    expect(again.status, again.stderr).toBe(0)
    expect(readFileSync(path('again.npy'))).toEqual(readFileSync(out))
    // So is a CSV results file.
    const csv = path('rosen.csv')
    expect(cli(['eval', ROSENBROCK, '--inputs', out, '--backend', 'cpu', '--out', csv]).status).toBe(0)
    const fromCsv = cli(['eval', ROSENBROCK, '--inputs', csv, '--backend', 'cpu', '--out', path('again2.npy')])
    expect(fromCsv.status, fromCsv.stderr).toBe(0)
    expect(readNpySpec(path('again2.npy')).columns).toEqual(c)
  })

  test('one input per file: --inputs x=x.npy (1-D <f8, version 1.0) --inputs y=y.f32 (raw float32), and a version 2.0 <f4 file', () => {
    const r = rng(8)
    const x = Array.from({ length: 300 }, () => r() * 4 - 2)
    const y = Array.from({ length: 300 }, () => Math.fround(r() * 3 - 1))
    writeNpySpec(path('x.npy'), x, '<f8')
    writeFileSync(path('y.f32'), Buffer.from(Float32Array.from(y).buffer))
    const out = path('xy.json')
    const run = cli(['eval', ROSENBROCK, '--inputs', `x=${path('x.npy')}`, '--inputs', `y=${path('y.f32')}`, '--backend', 'cpu', '--out', out])
    expect(run.status, run.stderr).toBe(0)
    const json = JSON.parse(readFileSync(out, 'utf8'))
    // float32 numbers are written as their shortest float32 text: they read back through Math.fround.
    expect(json.inputs.x).toEqual(x)
    expect(json.inputs.y.map(Math.fround)).toEqual(y)
    const ref = evaluateCpu(parse(ROSENBROCK), { x, y })
    expect(json.values.f).toEqual(Array.from(ref.values.f!))
    expect(json.jacobian.f.x).toEqual(Array.from(ref.jacobian.f!.x!))
    writeNpySpec(path('x2.npy'), x, '<f4', 2)
    const v2 = cli(['eval', 'g = x*x', '--inputs', `x=${path('x2.npy')}`, '--backend', 'cpu', '--out', path('x2.json')])
    expect(v2.status, v2.stderr).toBe(0)
    expect(JSON.parse(readFileSync(path('x2.json'), 'utf8')).values.g).toEqual(x.map((v) => Math.fround(v) ** 2))
    // Mistakes: a 1-D file without a name, a raw file of odd length, a length mismatch.
    expect(cli(['eval', ROSENBROCK, '--inputs', path('x.npy'), '--backend', 'cpu']).stderr).toContain(`holds one unnamed column; name the input it binds: --inputs NAME=${path('x.npy')}`)
    writeFileSync(path('odd.f32'), Buffer.alloc(6))
    expect(cli(['eval', 'g = x', '--inputs', `x=${path('odd.f32')}`, '--backend', 'cpu']).stderr).toContain('6 bytes is not a whole number of float32 values')
    writeNpySpec(path('short.npy'), x.slice(1), '<f8')
    const mismatch = cli(['eval', ROSENBROCK, '--inputs', `x=${path('short.npy')}`, '--inputs', `y=${path('y.f32')}`, '--backend', 'cpu'])
    expect(mismatch.status).toBe(1)
    expect(mismatch.stderr).toContain('has 300 bindings')
  })

  test('--backend auto (no GPU here: its CPU engine) writes <f4 fields within float32 rounding of evaluateCpu', () => {
    const out = path('auto.npy')
    const r = cli(['eval', ROSENBROCK, '--batch', '2000', '--backend', 'auto', '--check', '--out', out], { env: NO_GPU })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^backend {3}auto: no WebGPU/m)
    expect(r.stdout).toMatch(/^check {5}max error .* ok/m)
    const npy = readNpySpec(out)
    expect(npy.fields.map((f) => f.descr)).toEqual(['<f4', '<f4', '<f4', '<f4', '<f4'])
    const c = npy.columns
    const ref = evaluateCpu(parse(ROSENBROCK), { x: c.x!, y: c.y! })
    c.f!.forEach((v, i) => expect(Math.abs(v - ref.values.f![i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref.values.f![i]!))))
    c['df/dy']!.forEach((v, i) => expect(Math.abs(v - ref.jacobian.f!.y![i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref.jacobian.f!.y![i]!))))
  })

  test('--inputs - reads CSV, JSON or .npy from standard input; not when the program comes from there too', () => {
    const csv = cli(['eval', 'e = (a*4+3)*(a+2)', '--inputs', '-', '--backend', 'cpu', '--out', path('stdin.json')], { input: 'a\n3\n-2\n0.5\n' })
    expect(csv.status, csv.stderr).toBe(0)
    // e = (4a+3)(a+2), de/da = 8a + 11, by hand.
    expect(JSON.parse(readFileSync(path('stdin.json'), 'utf8')).values.e).toEqual([75, 0, 12.5])
    const json = cli(['eval', 'e = (a*4+3)*(a+2)', '--inputs', '-', '--backend', 'cpu', '--out', path('stdin2.json')], { input: '{"a": [1, 2]}' })
    expect(json.status, json.stderr).toBe(0)
    expect(JSON.parse(readFileSync(path('stdin2.json'), 'utf8')).jacobian.e.a).toEqual([19, 27])
    writeNpySpec(path('a.npy'), [1, -1], '<f8')
    const npy = cli(['eval', 'e = (a*4+3)*(a+2)', '--inputs', 'a=-', '--backend', 'cpu', '--out', path('stdin3.json')], { input: readFileSync(path('a.npy')) })
    expect(npy.status, npy.stderr).toBe(0)
    expect(JSON.parse(readFileSync(path('stdin3.json'), 'utf8')).values.e).toEqual([21, -1])
    const both = cli(['eval', '-', '--inputs', '-', '--backend', 'cpu'], { input: 'e = a' })
    expect(both.status).toBe(2)
    expect(both.stderr).toContain("the program and --inputs cannot both come from standard input ('-')")
  })

  test('NaN and infinite inputs: file, line and column named, exit 1; --allow-nan lets them through per binding', () => {
    const bad = path('nan.csv')
    writeFileSync(bad, '# points\nx,y\n1,2\n3,4\nNaN,5\n6,inf\n')
    const r = cli(['eval', 'f = x*y', '--inputs', bad, '--backend', 'cpu'])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain(`wavegrad: ${bad}:5: column 'x' is NaN`)
    expect(r.stderr).not.toContain('    at ')
    const ok = cli(['eval', 'f = x*y', '--inputs', bad, '--backend', 'cpu', '--allow-nan', '--out', path('nan.json')])
    expect(ok.status, ok.stderr).toBe(0)
    expect(JSON.parse(readFileSync(path('nan.json'), 'utf8')).values.f).toEqual([2, 12, 'NaN', 'Infinity'])
    writeFileSync(path('inf.json'), '{"x": [1, "-Infinity"], "y": 2}')
    expect(cli(['eval', 'f = x*y', '--inputs', path('inf.json'), '--backend', 'cpu']).stderr).toContain(`${path('inf.json')}: 'x'[1] is -Infinity`)
    writeNpySpec(path('nan.npy'), [1, 2, NaN], '<f8')
    expect(cli(['eval', 'f = x', '--inputs', `x=${path('nan.npy')}`, '--backend', 'cpu']).stderr).toContain("record 3, column 'x', is NaN")
    // A cell that is not a number at all stays an error, --allow-nan or not.
    writeFileSync(path('word.csv'), 'x\n1\nabc\n')
    expect(cli(['eval', 'f = x', '--inputs', path('word.csv'), '--backend', 'cpu', '--allow-nan']).stderr).toContain(":3: column 1 ('x'): 'abc' is not a number")
  })

  test('numbers beyond float32, words that are not numbers, and broken .npy files: one line naming the file, exit 1', () => {
    writeFileSync(path('big.csv'), 'x,y\n1,2\n1e39,2\n')
    const big = cli(['eval', 'f = x*y', '--inputs', path('big.csv'), '--backend', 'auto'], { env: NO_GPU })
    expect(big.status).toBe(1)
    expect(big.stderr).toContain(`${path('big.csv')}:3: column 'x' is 1e+39, beyond float32's range`)
    // float64 holds it: the CPU engine takes it.
    expect(cli(['eval', 'f = x*y', '--inputs', path('big.csv'), '--backend', 'cpu']).status).toBe(0)
    writeFileSync(path('ctor.csv'), 'x\nconstructor\n')
    expect(cli(['eval', 'f = x', '--inputs', path('ctor.csv'), '--backend', 'cpu']).stderr).toContain("'constructor' is not a number")
    expect(cli(['eval', 'f = x', '--batch', '2', '--set', 'x= ', '--backend', 'cpu']).stderr).toContain("--set wants NAME=NUMBER (e.g. --set w=0.5), got 'x= '")
    const npy = (name: string, bytes: Buffer) => (writeFileSync(path(name), bytes), cli(['eval', 'f = x', '--inputs', `x=${path(name)}`, '--backend', 'cpu']))
    const short = npy('short.npy', Buffer.from([0x93, ...Buffer.from('NUMPY'), 2, 0, 16, 0]))
    expect(short.stderr).toContain('ends inside its 2.0 preamble')
    const header = (dict: string) => {
      const text = dict + ' '.repeat(63 - ((10 + dict.length) % 64)) + '\n'
      const head = Buffer.alloc(10)
      Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0]).copy(head)
      head.writeUInt16LE(text.length, 8)
      return Buffer.concat([head, Buffer.from(text, 'latin1')])
    }
    expect(npy('negative.npy', header("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }")).stderr).toContain('holds an array of shape (-1)')
    const twice = cli(['eval', 'f = x', '--inputs', (writeFileSync(path('twice.npy'), Buffer.concat([header("{'descr': [('x', '<f4'), ('x', '<f4')], 'fortran_order': False, 'shape': (1,), }"), Buffer.alloc(8)])), path('twice.npy')), '--backend', 'cpu'])
    expect(twice.stderr).toContain("names field 'x' twice")
    for (const r of [big, short, twice]) {
      expect(r.status).toBe(1)
      expect(r.stderr).not.toContain('    at ')
    }
  })

  test('memory is checked before allocating: the need, how it adds up and the limit; no RangeError, no stack', () => {
    // Rosenbrock on the GPU engine: 2 inputs + 3 rows, float32, 2^32 bindings = 80 GiB (plus buffers).
    const big = cli(['eval', ROSENBROCK, '--batch', '2^32', '--max-memory', '1G'])
    expect(big.status).toBe(1)
    expect(big.stderr).toMatch(/^wavegrad: --batch 2\^32 needs 80\.\d GiB of host memory: \(2 inputs \+ 3 rows\) × 4 bytes × 4,294,967,296 bindings \+ [\d.]+ MiB of buffers; the limit is 1 GiB \(--max-memory\)\n$/)
    const cpu = cli(['eval', ROSENBROCK, '--batch', '2^32', '--backend', 'cpu', '--max-memory', '1G'])
    expect(cpu.stderr).toContain('needs 160 GiB of host memory: (2 inputs + 3 rows) × 8 bytes')
    const huge = cli(['eval', ROSENBROCK, '--batch', '2^40', '--backend', 'cpu'])
    expect(huge.status).toBe(1)
    expect(huge.stderr).toContain('1,099,511,627,776 bindings are more than one JavaScript typed array holds')
    expect(huge.stderr).not.toMatch(/RangeError|internal error|    at /)
    writeNpySpec(path('many.npy'), Array.from({ length: 1 << 16 }, (_, i) => i), '<f4')
    const file = cli(['eval', 'f = x*x', '--inputs', `x=${path('many.npy')}`, '--backend', 'cpu', '--max-memory', '256K'])
    expect(file.status).toBe(1)
    expect(file.stderr).toContain(`--inputs x=${path('many.npy')} needs`)
    // A CSV file is checked block by block as it is read (its length is not known up front).
    writeFileSync(path('many.csv'), `x\n${Array.from({ length: 10_000 }, (_, i) => i).join('\n')}\n`)
    const csv = cli(['eval', 'f = x*x', '--inputs', path('many.csv'), '--backend', 'cpu', '--max-memory', '300K'])
    expect(csv.status).toBe(1)
    expect(csv.stderr).toContain(`--inputs ${path('many.csv')} (at 4,096 rows and still reading) needs`)
    expect(cli(['eval', 'f = x*x', '--inputs', path('many.csv'), '--backend', 'cpu', '--max-memory', '64M']).status).toBe(0)
    expect(cli(['eval', 'f = x', '--batch', '3', '--max-memory', 'plenty']).status).toBe(2)
  })

  test('did you mean: options, commands, --range and --set names', () => {
    const option = cli(['eval', 'f = x*y', '--bach', '3'])
    expect(option.status).toBe(2)
    expect(option.stderr).toContain("wavegrad: unknown option '--bach'; did you mean '--batch'?")
    expect(cli(['evl', 'f = x']).stderr).toContain("unknown command 'evl' (commands: eval, info, help); did you mean 'eval'?")
    expect(cli(['eval', 'f = x*alpha', '--batch', '3', '--range', 'alpah=0:1', '--backend', 'cpu']).stderr).toContain("--range names 'alpah', which is not an input (the program's inputs are: x, alpha); did you mean 'alpha'?")
    const set = cli(['eval', 'f = x*alpha', '--batch', '3', '--set', 'aplha=2', '--backend', 'cpu'])
    expect(set.status).toBe(2)
    expect(set.stderr).toContain("--set names 'aplha', which is not an input (the program's inputs are: x, alpha); did you mean 'alpha'?")
  })

  test('--set binds inputs for every binding; parameter gradients are summed, written to JSON and printed', () => {
    const input = path('xy.csv')
    writeFileSync(input, 'x,y\n1,2\n-1,0.5\n3,1\n')
    const program = 'param a, b\nloss = (a*x + b - y)^2'
    const out = path('fit.json')
    const r = cli(['eval', program, '--inputs', input, '--set', 'a=2', '--set', 'b=0.5', '--backend', 'cpu', '--out', out])
    expect(r.status, r.stderr).toBe(0)
    const json = JSON.parse(readFileSync(out, 'utf8'))
    // residuals a x + b - y: 0.5, -2, 5.5; loss = r²; dloss/da = Σ 2 r x = 1 + 4 + 33 = 38, dloss/db = Σ 2 r = 8, by hand.
    expect(json.values.loss).toEqual([0.25, 4, 30.25])
    expect(json.gradients).toEqual({ loss: { a: 38, b: 8 } })
    expect(Object.keys(json.jacobian.loss)).toEqual(['x', 'y'])
    expect(json.inputs.a).toBe(2)
    expect(r.stdout).toMatch(/^gradients .*summed over 3 bindings:\n\s+d\/da\s+d\/db\n\s+loss\s+38\s+8$/m)
    const ref = evaluateCpu(parse(program), { x: [1, -1, 3], y: [2, 0.5, 1], a: 2, b: 0.5 })
    expect(json.gradients.loss.a).toBe(ref.gradients!.loss!.a)
    // CSV: gradients on stdout, per-binding columns in the file; its constant parameter columns read back.
    const csv = path('fit.csv')
    const c = cli(['eval', program, '--inputs', input, '--set', 'a=2', '--set', 'b=0.5', '--backend', 'cpu', '--out', csv])
    expect(c.stdout).toMatch(/loss\s+38\s+8/)
    expect(readFileSync(csv, 'utf8').split('\n')[0]).toBe('a,b,x,y,loss,dloss/dx,dloss/dy')
    const again = cli(['eval', program, '--inputs', csv, '--backend', 'cpu', '--check-all'])
    expect(again.status, again.stderr).toBe(0)
    expect(again.stdout).toMatch(/loss\s+38\s+8/)
    const unset = cli(['eval', program, '--batch', '10', '--backend', 'cpu'])
    expect(unset.status).toBe(2)
    expect(unset.stderr).toContain("parameters 'a', 'b' take one number for the whole batch: --set a=NUMBER")
  })
})
