/**
 * The package as a user gets it: `npm run build`, `npm pack`, then `npm install` of the tarball
 * (with webgpu, typescript and @types/node, from npm's cache) into a fresh ESM project outside the
 * repository. Checks the tarball's files, that strict TypeScript consumers with `skipLibCheck:
 * false` compile against its types under both `nodenext` and `bundler` resolution (and that
 * deliberate misuses do not), that README's quick start runs from it, that the `wavegrad` bin
 * works, and that `npm publish --dry-run` warns about nothing.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string }
let dir = ''
let files: string[] = []

function run(command: string, args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' } })
}

function ok(r: SpawnSyncReturns<string>): string {
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0)
  return r.stdout
}

beforeAll(() => {
  ok(run('npm', ['run', 'build'], ROOT))
  dir = mkdtempSync(join(tmpdir(), 'wavegrad-consumer-'))
  const packed = JSON.parse(ok(run('npm', ['pack', '--json', '--pack-destination', dir], ROOT))) as [{ filename: string; files: { path: string }[] }]
  files = packed[0].files.map((f) => f.path)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // The versions npm ci installed here: npm's cache has them (no network needed).
  const version = (name: string) => `${name}@${(JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`
  ok(run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, packed[0].filename), version('webgpu'), version('typescript'), version('@types/node')], dir))
}, 600_000)

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('the tarball holds the built library, its types, the CLI, examples and docs; no source maps, sources or dead files', () => {
  for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'scripts/install-driver.sh']) expect(files).toContain(f)
  expect(files.some((f) => f.startsWith('examples/'))).toBe(true)
  expect(files.filter((f) => f.endsWith('.map'))).toEqual([])
  expect(files.filter((f) => /^(src|test|bench|demo|shaders)\//.test(f) || /\/\./.test(f))).toEqual([])
  expect(readFileSync(join(dir, 'node_modules/wavegrad/dist/index.d.ts'), 'utf8')).toMatch(/^\/\/\/ <reference types="@webgpu\/types" preserve="true" \/>/)
})

test('the package is ESM only: import works, require says so', () => {
  const imported = run(process.execPath, ['--input-type=module', '-e', "import('wavegrad').then((w) => console.log(typeof w.parse, typeof w.fn))"], dir)
  expect(ok(imported).trim()).toBe('function function')
  const required = run(process.execPath, ['-e', "require('wavegrad')"], dir)
  expect(required.status).not.toBe(0)
  expect(required.stderr).toMatch(/ERR_PACKAGE_PATH_NOT_EXPORTED|ERR_REQUIRE_ESM/)
})

/**
 * A consumer file that uses the public API with typed names and must compile without errors;
 * `await using` where the consumer's lib declares disposables.
 */
const consumerOk = (using: boolean) => `
import { createEngine, createCpuEngine, evaluateCpu, fn, Graph, parse, type GpuEngine, type Results } from 'wavegrad'

const g = new Graph<'x' | 'y', 'f'>()
const x = g.input('x'), y = g.input('y')
g.output('f', x.mul(y).sin())
const f = fn(['x', 'y'], (x, y) => x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)))

export async function main(): Promise<number> {
  ${using ? 'await using engine = await createEngine()' : 'const engine = await createEngine()'}
  const r = await engine.evaluate(g, { x: [1, 2], y: [3, 4] })
  const fx: Float32Array = r.jacobian.f.x
  const out = await f.valueAndJacobian({ x: [1], y: [2] }, { engine: createCpuEngine() })
  const v: Float64Array = out.values.out
  const ref: Results<Float64Array> = evaluateCpu(parse('f = pi*x'), { x: [1] })
  const gpu: GpuEngine | undefined = engine.gpu
  const device: GPUDevice | undefined = gpu?.device
  const buffer: GPUBuffer | undefined = device?.createBuffer({ size: 4, usage: 8 })
  buffer?.destroy()
  ${using ? '' : 'engine.destroy()'}
  return fx[0]! + v[0]! + (ref.values['f']?.[0] ?? 0)
}
`

/** Each line a misuse the types must refuse; the test expects one error per line. */
const MISUSES = [
  "const a: number = (await createEngine()).gpu!.device",
  "const b = (await createEngine()).evaluate(g, { x: [1] })",
  "const c = (await createEngine()).evaluate(g, { x: [1], y: [2], z: [3] })",
  "const d = (await evaluateCpu(g, { x: [1], y: [2] })).values.g",
  "const e = (await evaluateCpu(g, { x: [1], y: [2] })).jacobian.f.z",
  "g.input('z')",
  "const h = (await f.valueAndJacobian({ x: [1], y: [2] })).values.f",
]
const CONSUMER_BAD = `
import { createEngine, evaluateCpu, fn, Graph } from 'wavegrad'
const g = new Graph<'x' | 'y', 'f'>()
const f = fn(['x', 'y'], (x, y) => x.mul(y))
export async function main(): Promise<void> {
${MISUSES.map((m) => `  ${m}`).join('\n')}
}
`

const STRICT = { strict: true, skipLibCheck: false, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, noEmit: true, target: 'es2022' }
const CONFIGS = {
  nodenext: { ...STRICT, module: 'nodenext', moduleResolution: 'nodenext', types: ['node'] },
  bundler: { ...STRICT, module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'esnext.disposable', 'dom'], types: [] },
  // A browser project whose lib predates `using`: wavegrad's types must not need it.
  'bundler, ES2022 lib': { ...STRICT, module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], types: [] },
}

describe.each(Object.entries(CONFIGS))('a strict TypeScript consumer, %s resolution', (name, compilerOptions) => {
  const id = name.replace(/\W+/g, '-')
  function tsc(file: string, source: string) {
    writeFileSync(join(dir, file), source)
    writeFileSync(join(dir, `tsconfig.${id}.json`), JSON.stringify({ compilerOptions, files: [file] }))
    return run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${id}.json`], dir)
  }

  test('compiles the public API with zero errors', () => {
    const r = tsc(`ok-${id}.ts`, consumerOk(!('lib' in compilerOptions) || compilerOptions.lib.includes('esnext.disposable')))
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  test('refuses each deliberate misuse, on its own line', () => {
    const r = tsc(`bad-${id}.ts`, CONSUMER_BAD)
    const first = CONSUMER_BAD.split('\n').findIndex((l) => l.includes(MISUSES[0]!)) + 1
    const lines = new Set([...r.stdout.matchAll(/\((\d+),\d+\): error TS/g)].map((m) => Number(m[1])))
    expect([...lines].sort((a, b) => a - b), r.stdout).toEqual(MISUSES.map((_, i) => first + i))
    expect(r.stdout).not.toMatch(/node_modules\/wavegrad/)
  })
})

test("README's quick start runs from the installed package", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const block = /<!-- quickstart -->\s*```ts\n([\s\S]*?)```/.exec(readme)
  expect(block, 'README has a ```ts block after <!-- quickstart -->').not.toBeNull()
  const source = block![1]!
  expect(source).toMatch(/from 'wavegrad'/)
  writeFileSync(join(dir, 'quickstart.ts'), source)
  writeFileSync(join(dir, 'tsconfig.quickstart.json'), JSON.stringify({ compilerOptions: { ...CONFIGS.nodenext, noEmit: false, outDir: 'out' }, files: ['quickstart.ts'] }))
  ok(run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.quickstart.json'], dir))
  const r = run(process.execPath, [join(dir, 'out', 'quickstart.js')], dir)
  expect(r.status, r.stderr).toBe(0)
  // What the block says it prints (its `// prints:` lines; `…` stands for any text).
  const expected = /\/\/ prints:\n((?:\/\/.*\n?)+)/.exec(source)?.[1]?.split('\n').filter(Boolean).map((l) => l.replace(/^\/\/ ?/, ''))
  expect(expected?.length, 'the quick start says what it prints').toBeGreaterThan(0)
  const printed = r.stdout.trim().split('\n')
  expect(printed.length).toBe(expected!.length)
  expected!.forEach((line, i) => expect(printed[i]).toMatch(new RegExp(`^${line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)))
}, 120_000)

test('the wavegrad bin is installed and runs', () => {
  const bin = join(dir, 'node_modules', '.bin', 'wavegrad')
  expect(readdirSync(join(dir, 'node_modules', '.bin'))).toContain('wavegrad')
  expect(ok(run(bin, ['--version'], dir)).trim()).toBe(pkg.version)
  // x fixed at 1.5: every printed f is 2·1.5 + 1 = 4.
  const evaluated = ok(run(bin, ['eval', 'f = 2*x + 1', '--batch', '4', '--backend', 'cpu', '--range', 'x=1.5:1.5'], dir))
  expect(evaluated).toMatch(/^\s*1\.5\s+4\s+2\s*$/m)
})

test('npm publish --dry-run prints no warning', () => {
  // (A placeholder token: without one, npm's only warning is that this machine is not logged in.)
  const r = run('npm', ['publish', '--dry-run', '--ignore-scripts', '--//registry.npmjs.org/:_authToken=dry-run-only'], ROOT)
  expect(r.status, r.stderr).toBe(0)
  expect(r.stderr.split('\n').filter((l) => /\bwarn/i.test(l))).toEqual([])
})
