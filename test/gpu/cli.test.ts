/**
 * The `wavegrad` CLI on the real WebGPU adapter (spawned through tsx, as in development): eval
 * with --check prints the adapter and an error within float32 tolerance of the float64 reference,
 * results written from the GPU match hand math and evaluateCpu, and `info` prints the adapter's
 * limits and features. A missing adapter fails these tests; it never skips them.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, test } from 'vitest'
import { compareResults, evaluateCpu, parse } from '../../src/index.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const data = mkdtempSync(join(tmpdir(), 'wavegrad-cli-gpu-'))
afterAll(() => rmSync(data, { recursive: true, force: true }))

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The number after "max error" in the check line. */
function maxError(stdout: string): number {
  const m = /^check {5}max error (\S+) vs the float64 reference/m.exec(stdout)
  expect(m, stdout).not.toBeNull()
  return Number(m![1])
}

test('eval --check on the GPU: adapter printed, max error against float64 within float32 tolerance', () => {
  const r = cli('eval', 'f = (1-x)^2 + 100*(y-x^2)^2', '--batch', '2^16', '--range', 'x=-2:2', '--range', 'y=-1:3', '--check')
  expect(r.status, r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^backend {3}webgpu: .+/m)
  expect(r.stdout).toMatch(/^kernel {4}fused tier, built in \d+ ms$/m)
  expect(r.stdout).toMatch(/^run {7}[\d.]+ ms = .*bindings\/s/m)
  expect(r.stdout).toContain('on all 65,536 bindings: ok')
  expect(maxError(r.stdout)).toBeLessThan(1e-4)
})

test('a batch larger than one GPU chunk (2^21) is assembled in order: the sampled check spans all of it', () => {
  const r = cli('eval', 'e = (a*4+3)*(a+2)', '--batch', String((1 << 21) + 4099), '--range=-5:5', '--check', '--show', '0')
  expect(r.status, r.stderr).toBe(0)
  expect(r.stdout).toContain('65,536 of 2,101,251 (evenly spaced) bindings: ok')
  expect(maxError(r.stdout)).toBeLessThan(1e-5)
})

test('GPU results written to CSV: the seed by hand, Rosenbrock against evaluateCpu (f32-faithful)', () => {
  const seedOut = join(data, 'seed.csv')
  const seedIn = join(data, 'seed.json')
  writeFileSync(seedIn, '[{"a": 3}, {"a": -2}, {"a": 0.5}]')
  const s = cli('eval', 'e = (a*4+3)*(a+2)', '--inputs', seedIn, '--out', seedOut)
  expect(s.status, s.stderr).toBe(0)
  // e = (4a + 3)(a + 2), de/da = 8a + 11: exact in float32 for these a.
  expect(readFileSync(seedOut, 'utf8')).toBe('a,e,de/da\n3,75,35\n-2,0,-5\n0.5,12.5,15\n')

  const out = join(data, 'rosen.json')
  const r = cli('eval', 'f = (1-x)^2 + 100*(y-x^2)^2', '--batch', '5000', '--seed', '9', '--range', 'x=-2:2', '--range', 'y=-1:3', '--out', out)
  expect(r.status, r.stderr).toBe(0)
  const json = JSON.parse(readFileSync(out, 'utf8'))
  expect(json.backend).toMatch(/^webgpu: /)
  const x = Float32Array.from(json.inputs.x as number[])
  const y = Float32Array.from(json.inputs.y as number[])
  const ref = evaluateCpu(parse('f = (1-x)^2 + 100*(y-x^2)^2'), { x, y }, { precision: 'f32' })
  const got = { values: { f: json.values.f }, jacobian: { f: { x: json.jacobian.f.x, y: json.jacobian.f.y } }, size: 5000, backend: json.backend }
  const { maxError: err, where } = compareResults(got, ref)
  expect(err, where).toBeLessThan(1e-5)
})

test('info prints the adapter, its features and its limits', () => {
  const r = cli('info')
  expect(r.status, r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^adapter {7}webgpu: .+/m)
  expect(r.stdout).toMatch(/^features {6}\S/m)
  const limit = /^maxStorageBufferBindingSize\s+(\d+)\s+(\d+)$/m.exec(r.stdout)
  expect(limit, r.stdout).not.toBeNull()
  expect(Number(limit![2])).toBeGreaterThanOrEqual(128 * 1024 * 1024)
  expect(r.stdout).toMatch(/^maxComputeWorkgroupsPerDimension\s+\d+\s+\d+$/m)
})
