/**
 * Soak (issue 21, item 5): SOAK_RUNS evaluations of graphs parsed fresh for every call (1,000
 * distinct small random programs in rotation, so every call is a new Graph, a new Kernel and a new
 * interpreter tape) on one GPU engine (tier 'interpreter': no per-graph compile), and every 10th
 * graph on the CPU engine too. At each tenth of the run: a full collection, the JS heap, and what
 * the GPU engine holds (stats()). Bounds, stated in the assertions below: heap growth from the 10%
 * mark to the end under HEAP_BOUND (and the process's resident memory under 128 MiB); buffers, bytes, tapes and pipelines within what the cache sizes
 * allow at every checkpoint, and no higher at the end than at the 10% mark; sampled results right
 * against the f32-faithful reference (GPU) and the float64 reference to the bit (CPU engine).
 */
import { describe, expect, test } from 'vitest'
import { createCpuEngine, createGpuEngine, evaluateCpu, parse } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

/** The issue asks for 10^5; WAVEGRAD_SOAK_RUNS overrides it (a longer soak by hand). */
const SOAK_RUNS = Number(process.env.WAVEGRAD_SOAK_RUNS ?? 100_000)
const PROGRAMS = 1000
const TAPE_CACHE = 32
/** 90% of the runs: a leak of 90 bytes per call (less than one retained promise and its closure) exceeds it. */
const HEAP_BOUND = 8 * 2 ** 20

/** Program text number `i`: 2-5 assignments over x, y and earlier names; outputs f (and h for odd i). */
function program(i: number): string {
  const r = rng(5000 + i)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!
  const c = () => (0.25 + 1.5 * r()).toFixed(3)
  const templates: readonly ((a: string, b: string) => string)[] = [
    (a) => `sin(${a})`,
    (a, b) => `cos(${a}) * ${b}`,
    (a, b) => `${a} * ${b} + ${c()}`,
    (a) => `tanh(${a} - ${c()})`,
    (a) => `exp(-(${a})^2)`,
    (a, b) => `${a} / (1 + ${b}^2)`,
    (a) => `sqrt(1 + ${a}^2)`,
    (a) => `log1p(${a}^2)`,
    (a) => `sigmoid(${a}) * ${c()}`,
    (a, b) => `max(${a}, ${b})`,
    (a, b) => `${a} - ${c()} * ${b}`,
  ]
  const names = ['x', 'y']
  const lines: string[] = []
  const steps = 2 + Math.floor(r() * 4)
  for (let s = 0; s < steps; s++) {
    const name = s === steps - 1 ? 'f' : `t${s}`
    lines.push(`${name} = ${pick(templates)(pick(names), pick(names))}`)
    names.push(name)
  }
  // The index in a constant: 1,000 distinct texts whatever the draws.
  lines[lines.length - 1] += ` + ${(i / PROGRAMS).toFixed(3)}`
  if (i % 2) lines.push(`h = ${pick(names)} * x`)
  return lines.join('\n')
}

interface Checkpoint {
  readonly at: number
  readonly heap: number
  readonly rss: number
  readonly buffers: number
  readonly bufferBytes: number
  readonly pipelines: number
  readonly tapes: number
}

const MiB = (n: number) => (n / 2 ** 20).toFixed(1)

describe('soak', () => {
  test(`${SOAK_RUNS} evaluations of rotating new graphs: heap, buffers, tapes and pipelines stay flat`, async () => {
    expect(globalThis.gc, 'the gpu project runs with --expose-gc').toBeTypeOf('function')
    const texts = Array.from({ length: PROGRAMS }, (_, i) => program(i))
    expect(new Set(texts).size).toBe(PROGRAMS)
    const gpu = await createGpuEngine({ tier: 'interpreter', tapeCacheSize: TAPE_CACHE })
    const cpu = createCpuEngine()
    try {
      await gpu.interpreter()
      const x = randomArray(rng(1), 64, -2, 2)
      const y = randomArray(rng(2), 64, -2, 2)
      const checkpoints: Checkpoint[] = []
      let checked = 0
      const t0 = performance.now()
      for (let i = 0; i < SOAK_RUNS; i++) {
        // A new Graph every call: nothing of an earlier call's kernel can be reused.
        const g = parse(texts[i % PROGRAMS]!)
        const B = 1 + (i % 64)
        // (A program may not read both inputs.)
        const bindings = Object.fromEntries(g.inputs.map((n) => [n, (n === 'x' ? x : y).subarray(0, B)]))
        const r = await gpu.evaluate(g, bindings)
        if (i % 997 === 0) {
          expectMatchesReference(r, g, bindings, 1e-4)
          checked++
        }
        if (i % 10 === 0) {
          const c = await cpu.evaluate(g, bindings)
          if (i % 990 === 0) expect(c.values).toEqual(evaluateCpu(g, bindings).values)
        }
        if ((i + 1) % (SOAK_RUNS / 10) === 0) {
          globalThis.gc!()
          const s = gpu.stats()
          const m = process.memoryUsage()
          checkpoints.push({ at: i + 1, heap: m.heapUsed, rss: m.rss, buffers: s.buffers, bufferBytes: s.bufferBytes, pipelines: s.pipelines, tapes: s.tapes })
        }
      }
      const seconds = (performance.now() - t0) / 1000
      console.log(`[soak] ${SOAK_RUNS} evaluations in ${seconds.toFixed(1)} s (${(SOAK_RUNS / seconds).toFixed(0)}/s), ${checked} checked against the reference`)
      for (const c of checkpoints) {
        console.log(`[soak] ${String(c.at).padStart(7)}: heap ${MiB(c.heap)} MiB, rss ${MiB(c.rss)} MiB, ${c.buffers} buffers, ${MiB(c.bufferBytes)} MiB, ${c.pipelines} pipelines, ${c.tapes} tapes`)
      }
      expect(checkpoints.length).toBe(10)
      const first = checkpoints[0]!
      const last = checkpoints.at(-1)!
      // Every checkpoint within what the caches allow: three slots of at most 9 buffers (inputs,
      // results, params, steps, staging, upload, 3 of the parameter sums), the register file, and
      // 2 buffers per held tape; bytes: the register file (128 MiB on a software adapter, made
      // with the interpreter) plus 4 MiB (64 bindings per tile: the slots hold a few KiB, each
      // tape a few hundred bytes).
      const regs = gpu.software ? 128 * 2 ** 20 : 0
      for (const c of checkpoints) {
        expect(c.tapes).toBeLessThanOrEqual(TAPE_CACHE)
        expect(c.pipelines).toBe(0)
        expect(c.buffers).toBeLessThanOrEqual(3 * 9 + 1 + 2 * TAPE_CACHE)
        expect(c.bufferBytes).toBeLessThanOrEqual(regs + 4 * 2 ** 20)
      }
      // Flat: from the 10% mark on, nothing more is held (the batch sizes all occurred before it).
      expect(last.buffers).toBeLessThanOrEqual(first.buffers)
      expect(last.tapes).toBeLessThanOrEqual(first.tapes)
      expect(last.heap - first.heap, `heap grew ${MiB(last.heap - first.heap)} MiB from the 10% mark`).toBeLessThan(HEAP_BOUND)
      // Native memory (Dawn, the driver): destroyed buffers and dropped bind groups are freed; a
      // leak of 1.5 KiB per call would exceed this (the readings move by about ±25 MiB).
      expect(last.rss - first.rss, `rss grew ${MiB(last.rss - first.rss)} MiB from the 10% mark`).toBeLessThan(128 * 2 ** 20)
      // A final call still works.
      const g = parse('f = sin(x) * y')
      expectMatchesReference(await gpu.evaluate(g, { x, y }), g, { x, y }, 1e-5)
    } finally {
      gpu.destroy()
      cpu.destroy()
    }
  })
})
