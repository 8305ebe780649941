/**
 * exportKernel on the real adapter: the loader is written to a .mjs file, imported like any
 * module (it imports nothing of wavegrad), run on the engine's own Dawn device, and compared with
 * the float32-faithful CPU reference; a batch beyond 65,535 workgroups checks the 2-D grid against
 * hand math.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { compareResults, createGpuEngine, evaluateCpu, parse, type Graph, type GpuEngine } from '../../src/index.js'
import { exportKernel } from '../../src/export.js'
import { randomArray, rng } from './setup.js'

interface LoadedKernel {
  run(bindings: Record<string, Float32Array | number>): Promise<{ values: Record<string, Float32Array>; jacobian: Record<string, Record<string, Float32Array>>; rows: Float32Array[]; size: number }>
  maxBindings: number
  rows: unknown
}

let engine: GpuEngine
let dir: string

beforeAll(async () => {
  engine = await createGpuEngine()
  dir = mkdtempSync(join(tmpdir(), 'wavegrad-export-'))
})
afterAll(() => {
  engine?.destroy()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** Exports `graph`, writes the loader to disk, imports it, and builds it on the engine's device. */
async function load(graph: Graph, file: string): Promise<{ kernel: LoadedKernel; exported: ReturnType<typeof exportKernel>; module: Record<string, unknown> }> {
  const exported = exportKernel(graph, { name: file })
  expect(exported.loader).not.toMatch(/\bimport\b|require\(/)
  const path = join(dir, `${file}.mjs`)
  writeFileSync(path, exported.loader)
  const module = (await import(/* @vite-ignore */ pathToFileURL(path).href)) as Record<string, unknown>
  const kernel = (await (module.createKernel as (d: GPUDevice) => Promise<LoadedKernel>)(engine.device)) as LoadedKernel
  return { kernel, exported, module }
}

describe('the exported loader matches the f32 reference', () => {
  test('Rosenbrock; the WGSL is the engine\'s own and the module describes its rows', async () => {
    const g = parse('f = (1-x)^2 + 100*(y-x^2)^2')
    const { kernel, exported, module } = await load(g, 'rosenbrock')
    expect(exported.wgsl).toBe(engine.compile(g).wgsl)
    expect(module.wgsl).toBe(exported.wgsl)
    expect(module.rows).toEqual(exported.rows)
    expect(exported.rows).toEqual([
      { kind: 'value', output: 'f' },
      { kind: 'jacobian', output: 'f', input: 'x' },
      { kind: 'jacobian', output: 'f', input: 'y' },
    ])
    expect(exported.workgroupSize).toBe(128)
    const r = rng(5)
    const B = 4099
    const bindings = { x: randomArray(r, B, -2, 2), y: randomArray(r, B, -1, 3) }
    const got = await kernel.run(bindings)
    expect(got.size).toBe(B)
    const ref = evaluateCpu(g, bindings, { precision: 'f32' })
    const c = compareResults({ ...got, backend: 'exported' }, ref)
    expect(c.count).toBe(3 * B)
    expect(c.maxError, c.where).toBeLessThan(1e-4)
    console.log(`[export] rosenbrock: max scaled error vs f32 reference ${c.maxError.toExponential(2)}; maxBindings ${kernel.maxBindings}`)
    // Hand math at one binding: f(1, 1) = 0, ∇f = 0; f(0, 0) = 1, ∂f/∂x = -2 (either sign of 0).
    const one = await kernel.run({ x: new Float32Array([1, 0]), y: new Float32Array([1, 0]) })
    const plus = (a: Float32Array) => Array.from(a, (v) => v + 0)
    expect(plus(one.values.f!)).toEqual([0, 1])
    expect(plus(one.jacobian.f!.x!)).toEqual([0, -2])
    expect(plus(one.jacobian.f!.y!)).toEqual([0, 0])
  })

  test('several outputs and inputs, an output independent of an input, odd batch sizes', async () => {
    const g = parse('r = sqrt(x^2 + y^2 + z^2)\nu = x / r\nv = atan2(y, x) * tanh(z)\nw = exp(-x*x)')
    const { kernel } = await load(g, 'multi')
    const r = rng(9)
    for (const B of [1, 127, 129, 3001]) {
      const bindings = { x: randomArray(r, B, 0.1, 2), y: randomArray(r, B, -2, 2), z: randomArray(r, B, -1, 1) }
      const got = await kernel.run(bindings)
      expect(Object.keys(got.values)).toEqual(['u', 'v', 'w'])
      const c = compareResults({ ...got, backend: 'exported' }, evaluateCpu(g, bindings, { precision: 'f32' }))
      expect(c.count).toBe(12 * B)
      expect(c.maxError, `B = ${B}: ${c.where}`).toBeLessThan(1e-4)
      console.log(`[export] multi B = ${B}: max scaled error ${c.maxError.toExponential(2)}`)
      // ∂w/∂y and ∂w/∂z are structurally zero: every element exactly 0.
      expect(got.jacobian.w!.y!.every((v) => v === 0)).toBe(true)
      expect(got.jacobian.w!.z!.every((v) => Object.is(v, 0))).toBe(true)
    }
  })

  test('array inputs and a number broadcast to every binding; B = 0', async () => {
    const g = parse('f = a * sin(x) + x * y')
    const { kernel } = await load(g, 'broadcast')
    const r = rng(11)
    const B = 1000
    const bindings = { x: randomArray(r, B, -3, 3), y: randomArray(r, B, -3, 3), a: 0.75 }
    const got = await kernel.run(bindings)
    const c = compareResults({ ...got, backend: 'exported' }, evaluateCpu(g, bindings, { precision: 'f32' }))
    expect(c.maxError, c.where).toBeLessThan(1e-4)
    const empty = await kernel.run({ x: new Float32Array(0), y: new Float32Array(0), a: 1 })
    expect(empty.size).toBe(0)
    expect(empty.values.f!.length).toBe(0)
  })

  test('bad bindings are refused with a message', async () => {
    const { kernel } = await load(parse('f = x * y'), 'errors')
    await expect(kernel.run({ x: new Float32Array(2), y: new Float32Array(3) })).rejects.toThrow(/unequal lengths/)
    await expect(kernel.run({ x: new Float32Array(2), y: new Float32Array(2), z: new Float32Array(2) })).rejects.toThrow(/unknown input 'z'/)
    await expect(kernel.run({ x: new Float32Array(2) })).rejects.toThrow(/missing binding for 'y'/)
    await expect(kernel.run({ x: [1, 2] as unknown as Float32Array, y: new Float32Array(2) })).rejects.toThrow(/'x' must be a Float32Array or a number/)
    await expect(kernel.run({ x: new Float32Array(kernel.maxBindings + 1), y: 1 })).rejects.toThrow(/at most \d+/)
  })
})

test('a batch beyond maxComputeWorkgroupsPerDimension workgroups runs as a 2-D grid', async () => {
  const perDim = engine.device.limits.maxComputeWorkgroupsPerDimension
  const { kernel } = await load(parse('f = x * x'), 'grid')
  const B = perDim * 128 + 1000
  expect(kernel.maxBindings).toBeGreaterThanOrEqual(B)
  const x = new Float32Array(B)
  for (let i = 0; i < B; i++) x[i] = ((i % 2001) - 1000) / 64 + i / B
  const got = await kernel.run({ x })
  // Hand math: x·x rounds once (IEEE f32 multiply); ∂f/∂x = x + x = 2x exactly.
  const f = got.values.f!
  const d = got.jacobian.f!.x!
  let bad = -1
  for (let i = 0; i < B; i++) {
    if (f[i] !== Math.fround(x[i]! * x[i]!) || d[i] !== 2 * x[i]!) {
      bad = i
      break
    }
  }
  expect(bad, `first wrong binding ${bad} of ${B}`).toBe(-1)
})
