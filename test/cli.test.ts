/**
 * The `wavegrad` CLI without a GPU: its file formats, input generation and progress bar as units,
 * and the command itself as a user runs it — compiled by tsc (as `npm run build` does) into a
 * scratch folder and spawned as an executable (shebang), plus once through tsx as in development.
 * Expectations come from hand math or from evaluateCpu, never from the CLI itself.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { evaluateCpu, parse } from '../src/index.js'
import { generateInputs, parseBatch, parseRanges } from '../src/cli/generate.js'
import { formatF32, InputError, matchColumns, parseCsv, parseJson, parseNumber } from '../src/cli/io.js'
import { Progress } from '../src/cli/progress.js'
import { rng } from './core/helpers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
let build = ''
let data = ''
let main = ''

beforeAll(() => {
  // Inside node_modules so that the compiled CLI resolves packages (webgpu) like an installed one.
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true })
  build = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'wavegrad-cli-'))
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(build, 'dist'), '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { cwd: ROOT, encoding: 'utf8' })
  expect(r.status, r.stdout + r.stderr).toBe(0)
  copyFileSync(join(ROOT, 'package.json'), join(build, 'package.json'))
  main = join(build, 'dist', 'cli', 'main.js')
  chmodSync(main, 0o755)
  data = mkdtempSync(join(tmpdir(), 'wavegrad-cli-data-'))
}, 120_000)

afterAll(() => {
  if (build) rmSync(build, { recursive: true, force: true })
  if (data) rmSync(data, { recursive: true, force: true })
})

/** Runs the compiled CLI as an executable (its shebang line picks node). */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(main, args, { cwd: data, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function file(name: string, text: string): string {
  const path = join(data, name)
  writeFileSync(path, text)
  return path
}

/** CSV text -> columns of numbers, by header name (an independent reader for the CLI's output). */
function readCsv(path: string): Record<string, number[]> {
  const [head, ...rows] = readFileSync(path, 'utf8').trim().split('\n')
  const names = head!.split(',')
  const cols: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))
  for (const row of rows) row.split(',').forEach((v, i) => cols[names[i]!]!.push(Number(v)))
  return cols
}

describe('input and output files', () => {
  test('CSV: header of names, rows of numbers; blank and # lines skipped; NaN and Infinity accepted', () => {
    const c = parseCsv('# points\nx, y\n1,2\n\n-3.5e1 , .25\nNaN,-Infinity\n', 'p.csv')
    expect(Object.keys(c)).toEqual(['x', 'y'])
    expect(Array.from(c.x as Float64Array)).toEqual([1, -35, NaN])
    expect(Array.from(c.y as Float64Array)).toEqual([2, 0.25, -Infinity])
    expect(parseNumber('')).toBeUndefined()
    expect(parseNumber('0x10')).toBeUndefined()
    expect(parseNumber('1e')).toBeUndefined()
  })

  test('CSV errors name the file, the line and the column', () => {
    const fail = (text: string) => {
      try {
        parseCsv(text, 'p.csv')
      } catch (e) {
        expect(e).toBeInstanceOf(InputError)
        return (e as Error).message
      }
      throw new Error('no error')
    }
    expect(fail('x,y\n1,2\n3,abc\n')).toBe("p.csv:3: column 2 ('y'): 'abc' is not a number")
    expect(fail('x,y\n1,2\n\n3\n')).toBe('p.csv:4: this row has 1 field, the header has 2 (x, y)')
    expect(fail('x,y\n1,,\n')).toMatch(/^p\.csv:2: this row has 3 fields/)
    expect(fail('x,y\n1,\n')).toBe("p.csv:2: column 2 ('y'): '' is not a number")
    expect(fail('x,x\n1,2\n')).toBe("p.csv:1: column 'x' appears twice in the header")
    expect(fail('\n# nothing\n')).toMatch(/^p\.csv: no header line/)
  })

  test('JSON: columns (numbers broadcast), rows, or a results file; errors name the entry', () => {
    const cols = parseJson('{"x": [1, 2.5, "NaN"], "a": 3}', 'in.json')
    expect(Array.from(cols.x as Float64Array)).toEqual([1, 2.5, NaN])
    expect(cols.a).toBe(3)
    const rows = parseJson('[{"x": 1, "y": 2}, {"y": 4, "x": 3}]', 'in.json')
    expect(Array.from(rows.x as Float64Array)).toEqual([1, 3])
    expect(Array.from(rows.y as Float64Array)).toEqual([2, 4])
    const results = parseJson('{"backend": "cpu", "size": 1, "inputs": {"x": [7]}, "values": {"f": [49]}, "jacobian": {"f": {"x": [14]}}}', 'r.json')
    expect(Object.keys(results)).toEqual(['x'])
    const fail = (text: string) => expect(() => parseJson(text, 'in.json'))
    fail('{"x": [1, 2], "y": [3]}').toThrow("in.json: columns have unequal lengths: 'x' has 2 values, 'y' has 1")
    fail('{"x": [1, "two"]}').toThrow(`in.json: 'x'[1] is "two", not a number`)
    fail('[{"x": 1, "y": 2}, {"x": 1}]').toThrow("in.json: row 2 lacks 'y' (row 1 has x, y)")
    fail('[{"x": 1}, {"x": true}]').toThrow("in.json: row 2, 'x' is true, not a number")
    fail('{"x": [1, 2').toThrow(/^in\.json: not valid JSON/)
    fail('42').toThrow(/^in\.json: expected an object of columns/)
  })

  test('columns must match the program inputs exactly', () => {
    const cols = { x: new Float64Array([1]), z: new Float64Array([2]) }
    expect(() => matchColumns(cols, ['x', 'y'], 'p.csv')).toThrow("p.csv: unknown input column 'z' (the program's inputs are: x, y)")
    expect(() => matchColumns({ x: 1 }, ['x', 'y'], 'p.csv')).toThrow("p.csv: no column for input 'y'")
    expect(Object.keys(matchColumns({ y: 2, x: 1 }, ['x', 'y'], 'p.csv'))).toEqual(['x', 'y'])
  })

  test('formatF32 is the shortest text that reads back as the same float32', () => {
    expect(formatF32(Math.fround(0.1))).toBe('0.1')
    expect(formatF32(Math.fround(1 / 3))).toBe('0.33333334')
    expect(formatF32(16777216)).toBe('16777216')
    expect(formatF32(NaN)).toBe('NaN')
    expect(formatF32(-Infinity)).toBe('-Infinity')
    const r = rng(3)
    for (let i = 0; i < 2000; i++) {
      const x = Math.fround((r() - 0.5) * 10 ** Math.floor(r() * 40 - 20))
      const s = formatF32(x)
      expect(Math.fround(Number(s))).toBe(x)
      expect(Number(s).toExponential().split('e')[0]!.replace(/[-.]/g, '').length).toBeLessThanOrEqual(9)
    }
  })
})

describe('generated inputs', () => {
  test('batch sizes and ranges parse, with clear errors', () => {
    expect(parseBatch('1000')).toBe(1000)
    expect(parseBatch('2^20')).toBe(1 << 20)
    expect(parseBatch('1e6')).toBe(1e6)
    expect(parseBatch('1_000')).toBe(1000)
    for (const bad of ['0', '-5', '1.5', 'lots', '2^60']) expect(() => parseBatch(bad)).toThrow(/--batch wants a whole number/)
    expect(parseRanges(['x=-2:2', '0:1'], ['x', 'y', 'z'])).toEqual({ x: [-2, 2], y: [0, 1], z: [0, 1] })
    expect(parseRanges([], ['x'])).toEqual({ x: [-1, 1] })
    expect(() => parseRanges(['q=0:1'], ['x'])).toThrow("--range names 'q', which is not an input (the program's inputs are: x)")
    expect(() => parseRanges(['x=2:1'], ['x'])).toThrow(/lo ≤ hi/)
    expect(() => parseRanges(['x=a:1'], ['x'])).toThrow(/--range wants name=lo:hi/)
  })

  test('seeded, float32, inside each range, independent per input, the same on every call', () => {
    const a = generateInputs(['x', 'y'], 10_000, { x: [-2, 2], y: [5, 5] }, 42)
    expect(a.x).toBeInstanceOf(Float32Array)
    expect(Math.min(...a.x!)).toBeGreaterThanOrEqual(-2)
    expect(Math.max(...a.x!)).toBeLessThanOrEqual(2)
    expect(new Set(a.y).size).toBe(1)
    const mean = a.x!.reduce((s, v) => s + v, 0) / a.x!.length
    expect(Math.abs(mean)).toBeLessThan(0.1)
    expect(generateInputs(['x', 'y'], 10_000, { x: [-2, 2], y: [5, 5] }, 42)).toEqual(a)
    const b = generateInputs(['x', 'w'], 100, { x: [0, 1], w: [0, 1] }, 1)
    expect(Array.from(b.x!)).not.toEqual(Array.from(b.w!))
    expect(Array.from(generateInputs(['x'], 100, { x: [0, 1] }, 2).x!)).not.toEqual(Array.from(b.x!))
  })
})

describe('progress bar', () => {
  test('silent during the first second, then one line redrawn in place, erased when done', () => {
    let now = 0
    const written: string[] = []
    const bar = new Progress({ write: (s: string) => written.push(s), isTTY: true, columns: 100 }, { now: () => now })
    bar.start('evaluating', 1000, 'bindings')
    now = 900
    bar.tick(400)
    expect(written).toEqual([])
    now = 1200
    bar.tick(500)
    expect(written.length).toBe(1)
    expect(written[0]).toMatch(/^\revaluating \[#+-+\]  50% 500\/1,000 bindings \(1\.2 s, ~1\.2 s left\)\x1b\[K$/)
    now = 1250
    bar.tick(600) // within 100 ms of the last redraw: skipped
    expect(written.length).toBe(1)
    now = 1400
    bar.tick(1000)
    expect(written[1]).toContain('100% 1,000/1,000 bindings')
    bar.done()
    expect(written[2]).toBe('\r\x1b[K')
    bar.done()
    expect(written.length).toBe(3)
  })

  test('off unless stderr is a terminal (or --progress)', () => {
    let now = 0
    const written: string[] = []
    const bar = new Progress({ write: (s: string) => written.push(s) }, { now: () => now })
    bar.start('checking', 10)
    now = 5000
    bar.tick(5)
    bar.done()
    expect(written).toEqual([])
  })
})

describe('wavegrad eval --backend cpu (spawned)', () => {
  test('seed example from a CSV file, results as JSON: e = (a*4+3)*(a+2), de/da = 8a + 11 by hand', () => {
    const input = file('seed.csv', 'a\n3\n-2\n0.5\n')
    const out = join(data, 'seed.json')
    const r = cli(['eval', 'e = (a*4+3)*(a+2)', '--inputs', input, '--backend', 'cpu', '--out', out])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('backend   cpu-js')
    expect(r.stdout).toMatch(/^run {7}[\d.]+ ms = .*bindings\/s/m)
    const json = JSON.parse(readFileSync(out, 'utf8'))
    expect(json.size).toBe(3)
    expect(json.backend).toMatch(/^cpu-js/)
    expect(json.inputs).toEqual({ a: [3, -2, 0.5] })
    expect(json.values).toEqual({ e: [75, 0, 12.5] })
    expect(json.jacobian).toEqual({ e: { a: [35, -5, 15] } })
    // The results file is itself an inputs file: the same bindings again.
    const again = cli(['eval', 'e = (a*4+3)*(a+2)', '--inputs', out, '--backend', 'cpu', '--out', join(data, 'again.json')])
    expect(again.status, again.stderr).toBe(0)
    expect(JSON.parse(readFileSync(join(data, 'again.json'), 'utf8')).values).toEqual(json.values)
  })

  test('generated inputs written as CSV equal evaluateCpu on the same inputs, to the last bit', () => {
    const out = join(data, 'rosen.csv')
    const r = cli(['eval', 'f = (1-x)^2 + 100*(y-x^2)^2', '--batch', '1000', '--seed', '3', '--range', 'x=-2:2', '--range', 'y=-1:3', '--backend', 'cpu', '--out', out])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('1,000 bindings, generated: uniform float32, seed 3; x in [-2, 2], y in [-1, 3]')
    const c = readCsv(out)
    expect(Object.keys(c)).toEqual(['x', 'y', 'f', 'df/dx', 'df/dy'])
    expect(c.x!.length).toBe(1000)
    expect(c.x!.every((v) => v >= -2 && v <= 2 && Math.fround(v) === v)).toBe(true)
    expect(c.y!.every((v) => v >= -1 && v <= 3)).toBe(true)
    const ref = evaluateCpu(parse('f = (1-x)^2 + 100*(y-x^2)^2'), { x: c.x!, y: c.y! })
    expect(c.f).toEqual(Array.from(ref.values.f!))
    expect(c['df/dx']).toEqual(Array.from(ref.jacobian.f!.x!))
    expect(c['df/dy']).toEqual(Array.from(ref.jacobian.f!.y!))
    // Same seed, same inputs.
    const again = cli(['eval', 'f = (1-x)^2 + 100*(y-x^2)^2', '--batch', '1000', '--seed', '3', '--range', 'x=-2:2', '--range', 'y=-1:3', '--backend', 'cpu', '--out', join(data, 'rosen2.csv')])
    expect(again.status).toBe(0)
    expect(readCsv(join(data, 'rosen2.csv')).x).toEqual(c.x)
  })

  test('--check-all over several chunks of the batch, and a program from a file with a broadcast input', () => {
    const r = cli(['eval', 'e = (a*4+3)*(a+2)', '--batch', '70000', '--backend', 'cpu', '--check-all'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('check     max error 0.00e+0')
    expect(r.stdout).toContain('on all 70,000 bindings: ok')
    expect(r.stdout).toContain('… 69,990 more rows')
    const prog = file('scaled.wg', '# a scaled square\nf = k * x^2\n')
    const input = file('scaled.json', '{"x": [1, -2, 3], "k": 0.5}')
    const s = cli(['eval', prog, '--inputs', input, '--backend', 'cpu', '--check'])
    expect(s.status, s.stderr).toBe(0)
    // f = k x², df/dk = x², df/dx = 2 k x; inputs in order of appearance: k, x.
    const lines = s.stdout.trim().split('\n')
    expect(lines.at(-4)!.trim().split(/\s+/)).toEqual(['k', 'x', 'f', 'df/dk', 'df/dx'])
    expect(lines.slice(-3).map((l) => l.trim().split(/\s+/).map(Number))).toEqual([
      [0.5, 1, 0.5, 1, 1],
      [0.5, -2, 2, 4, -2],
      [0.5, 3, 4.5, 9, 3],
    ])
  })

  test('parse errors show file:line:col, the line and a caret under the column', () => {
    const inline = cli(['eval', 'f = (x + 1', '--batch', '3', '--backend', 'cpu'])
    expect(inline.status).toBe(1)
    const lines = inline.stderr.split('\n')
    const at = lines.findIndex((l) => l.startsWith('wavegrad: <program>:1:11: ParseError:'))
    expect(at, inline.stderr).toBeGreaterThanOrEqual(0)
    expect(lines[at + 1]).toBe('  f = (x + 1')
    expect(lines[at + 2]).toBe(`  ${' '.repeat(10)}^`)
    const prog = file('bad.wg', 'f = x*y\ng = sin(x +)\n')
    const fromFile = cli(['eval', prog, '--batch', '3', '--backend', 'cpu'])
    expect(fromFile.status).toBe(1)
    expect(fromFile.stderr).toContain(`wavegrad: ${prog}:2:12: ParseError:`)
    expect(fromFile.stderr).toContain('  g = sin(x +)\n  ' + ' '.repeat(11) + '^')
  })

  test('bad files: missing program or inputs, malformed CSV and JSON, unknown input columns', () => {
    const run = (...args: string[]) => {
      const r = cli(['eval', ...args, '--backend', 'cpu'])
      expect(r.status).toBe(1)
      return r.stderr
    }
    expect(run('model.wg', '--batch', '3')).toContain("wavegrad: cannot read program file 'model.wg': no such file")
    expect(run('f = x*y', '--inputs', join(data, 'none.csv'))).toContain(`cannot read inputs '${join(data, 'none.csv')}': no such file`)
    const bad = file('bad.csv', 'x,y\n1,2\n3,abc\n')
    expect(run('f = x*y', '--inputs', bad)).toContain(`wavegrad: ${bad}:3: column 2 ('y'): 'abc' is not a number`)
    const extra = file('extra.csv', 'x,y,z\n1,2,3\n')
    expect(run('f = x*y', '--inputs', extra)).toContain(`unknown input column 'z' (the program's inputs are: x, y)`)
    const broken = file('broken.json', '{"x": [1, 2')
    expect(run('f = x*y', '--inputs', broken)).toContain(`wavegrad: ${broken}: not valid JSON`)
  })

  test('command-line mistakes exit 2 with a hint; --help documents generated inputs', () => {
    for (const args of [['eval', 'f = x'], ['eval', 'f = x', '--batch', '3', '--inputs', 'a.csv'], ['eval', 'f = x', '--batch', '3', '--backend', 'tpu'], ['eval', 'f = x', '--batch', '3', '--bogus'], ['frobnicate'], ['eval', 'f = x', '--batch', '3', '--out', 'r.txt'], ['eval', 'f = x', '--batch', 'lots'], ['eval', 'f = x', '--batch', '3', '--range', 'q=0:1']]) {
      const r = cli(args)
      expect(r.status, args.join(' ')).toBe(2)
      expect(r.stderr).toContain("Run 'wavegrad --help' for usage.")
    }
    const help = cli(['--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toContain('uniform in [-1, 1]')
    expect(help.stdout).toContain('--range')
    const v = cli(['--version'])
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version)
  })

  test('without a WebGPU adapter, --backend gpu fails with the driver hint and points to --backend cpu', () => {
    // No Vulkan driver at all: the adapter request returns null.
    const r = cli(['eval', 'f = x*y', '--batch', '3'], { VK_ICD_FILENAMES: join(data, 'no-such-icd.json') })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('wavegrad: DeviceError: no WebGPU adapter found')
    expect(r.stderr).toContain('install-driver.sh')
    expect(r.stderr).toContain('--backend cpu')
  })

  test('runs from source through tsx, as during development', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', 'f = x*y', '--batch', '2', '--backend', 'cpu'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain('2 bindings')
  })
})
