/**
 * The shipped examples run as users run them (tsx, `wavegrad` resolved through tsconfig.json's
 * paths to the sources), at small sizes, on the real adapter: examples/node.ts prints values and partial
 * derivatives that must match hand math, examples/train.ts must recover the parameters it fits,
 * and examples/browser type-checks (with the rest of examples/) and builds with Vite.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import { afterAll, expect, test } from 'vitest'
import { runChild } from './child.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const out = mkdtempSync(join(tmpdir(), 'wavegrad-examples-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

/** A child process in the repository root, awaited without blocking the event loop. */
const run = (command: string, args: readonly string[], timeoutMs = 120_000) => runChild(command, args, { cwd: ROOT, timeoutMs })

const example = (file: string, ...args: string[]) => run(process.execPath, [join(ROOT, 'node_modules/tsx/dist/cli.mjs'), file, ...args])

// Started at once: it runs while the examples do.
const typeCheck = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'])

test('examples/node.ts: values and partial derivatives of Rosenbrock match hand math', async () => {
  const r = await example('examples/node.ts', '4096')
  expect(r.code, r.stdout + r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^4096 points in \d+ ms \(again\) on \S+/m)
  const m = /^f\((\S+), (\S+)\) = (\S+) {2}∂f\/∂x = (\S+) {2}∂f\/∂y = (\S+)$/m.exec(r.stdout)
  expect(m, r.stdout).not.toBeNull()
  const [x, y, f, fx, fy] = m!.slice(1).map(Number) as [number, number, number, number, number]
  // f = (1-x)² + 100(y-x²)²;  ∂f/∂x = -2(1-x) - 400x(y-x²);  ∂f/∂y = 200(y-x²)
  const close = (a: number, b: number) => expect(Math.abs(a - b) / Math.max(1, Math.abs(b))).toBeLessThan(1e-5)
  close(f, (1 - x) ** 2 + 100 * (y - x * x) ** 2)
  close(fx, -2 * (1 - x) - 400 * x * (y - x * x))
  close(fy, 200 * (y - x * x))
  const worst = /largest scaled error against hand math at 64 points: (\S+)$/m.exec(r.stdout)
  expect(Number(worst?.[1])).toBeLessThan(1e-4)
})

test('examples/train.ts: gradient descent recovers a, b, c of y = a·sin(b·x) + c', async () => {
  const r = await example('examples/train.ts', '4096', '40')
  expect(r.code, r.stdout + r.stderr).toBe(0)
  const m = /^fitted a (\S+), b (\S+), c (\S+); true a (\S+), b (\S+), c (\S+)$/m.exec(r.stdout)
  expect(m, r.stdout).not.toBeNull()
  const [a, b, c, ta, tb, tc] = m!.slice(1).map(Number) as number[]
  expect(Math.abs(a! - ta!)).toBeLessThan(0.02)
  expect(Math.abs(b! - tb!)).toBeLessThan(0.02)
  expect(Math.abs(c! - tc!)).toBeLessThan(0.02)
  // The loss fell from the first step to the last.
  const losses = [...r.stdout.matchAll(/loss (\S+)/g)].map((l) => Number(l[1]))
  expect(losses.length).toBeGreaterThan(2)
  expect(losses.at(-1)!).toBeLessThan(losses[0]! / 100)
})

test('examples/browser builds with Vite: one page, one script, no Dawn, no Node built-ins', async () => {
  const dist = join(out, 'browser')
  await build({ root: join(ROOT, 'examples/browser'), configFile: join(ROOT, 'examples/browser/vite.config.ts'), logLevel: 'silent', build: { outDir: dist, emptyOutDir: true } })
  const html = readFileSync(join(dist, 'index.html'), 'utf8')
  const scripts = [...html.matchAll(/<script type="module"[^>]* src="([^"]+)"/g)].map((m) => m[1]!)
  expect(scripts).toHaveLength(1)
  const code = readFileSync(join(dist, scripts[0]!.replace(/^\.?\//, '')), 'utf8')
  expect(code).toContain('navigator.gpu')
  expect(code).not.toMatch(/dawn\.node|["'`]node:/)
  expect(readdirSync(join(dist, 'assets')).every((f) => f.endsWith('.js'))).toBe(true)
  expect(existsSync(join(dist, 'main.ts'))).toBe(false)
})

test('examples/ type-check (node.ts, train.ts, browser/main.ts, browser/vite.config.ts)', async () => {
  const r = await typeCheck
  expect(r.stdout + r.stderr).toBe('')
  expect(r.code).toBe(0)
})
