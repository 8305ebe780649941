/**
 * Issue 5, deliverable 3: a wavefront-parallel PROTOTYPE (threads over (node of one wavefront,
 * binding); bench/wavefront/) measured against the fused and interpreter tiers on wide graphs at
 * small batches. Verifies every prototype result against evaluateCpu(f32) (max scaled error must
 * be <= 1e-4), measures steady-state time per evaluation including readback (median after
 * warm-up) in two passes over the grid, and compile times; writes bench/WAVEFRONT.md and prints
 * the table. Run: npx tsx bench/wavefront.ts (about 3 minutes on the 2-core software adapter).
 *
 * Env: WAVEFRONT_QUICK=1 runs one graph and two batch sizes (a smoke check; writes no file).
 */
process.env.MESA_SHADER_CACHE_DISABLE ??= 'true'

import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { compareResults, createGpuEngine, evaluateCpu, levelize, type Graph, type Kernel } from '../src/index.js'
import { benchInputs } from './graphs.js'
import { wideGraph, type WideShape } from './wavefront/graphs.js'
import { buildSchedule } from './wavefront/schedule.js'
import { WavefrontRunner, type Prepared } from './wavefront/runner.js'

const QUICK = process.env.WAVEFRONT_QUICK === '1'
const BATCHES = QUICK ? [1, 64] : [1, 8, 64, 512, 4096]
/** fused: false where the fused compile takes minutes (see WAVEFRONT.md): no fused column there. */
const SHAPES: (WideShape & { fused: boolean })[] = [
  { name: 'wide-16x128x3', inputs: 16, width: 128, layers: 3, fused: true },
  { name: 'wide-64x256x2', inputs: 64, width: 256, layers: 2, fused: true },
  { name: 'deep-8x16x16', inputs: 8, width: 16, layers: 16, fused: true },
  { name: 'wide-8x256x4', inputs: 8, width: 256, layers: 4, fused: false },
].slice(0, QUICK ? 1 : 4)
const TOLERANCE = 1e-4
const PASSES = 2

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Median of at least 3 and at most 9 runs (fewer when slow: about 0.8 s per cell), after 2 warm-ups. */
async function steady(f: () => Promise<unknown>): Promise<number> {
  await f()
  await f()
  const ts: number[] = []
  const start = performance.now()
  while (ts.length < 3 || (ts.length < 9 && performance.now() - start < 800)) {
    const t = performance.now()
    await f()
    ts.push(performance.now() - t)
  }
  return median(ts)
}

function inputsFor(g: Graph, B: number): Float32Array[] {
  return benchInputs(g.inputs, B)
}

const t0 = performance.now()
let t = performance.now()
const fused = await createGpuEngine({ tier: 'fused' })
const wave = await WavefrontRunner.create(fused.device)
const waveBuildMs = performance.now() - t
t = performance.now()
const interp = await createGpuEngine({ tier: 'interpreter' })
await interp.interpreter()
const interpBuildMs = performance.now() - t
console.log(`adapter: ${fused.description}`)
console.log(`one-time shader builds: wavefront ${waveBuildMs.toFixed(0)} ms, interpreter ${interpBuildMs.toFixed(0)} ms`)

interface Cell { shape: string; nodes: number; depth: number; widest: number; B: number; fused: number[]; interp: number[]; wave: number[]; err: number; fusedErr: number; dispatches: number }
const cells: Cell[] = []
const compiles: string[][] = []
const setups: { shape: WideShape & { fused: boolean }; g: Graph; fk?: Kernel; ik: Kernel; prepared: Map<number, { p: Prepared; inputs: Float32Array[]; bindings: Record<string, Float32Array> }> }[] = []

for (const shape of SHAPES) {
  const g = wideGraph(shape)
  const lv = levelize(g)
  let fk: Kernel | undefined
  let fusedMs = NaN
  if (shape.fused) {
    t = performance.now()
    fk = fused.compile(g)
    await fk.ready
    fusedMs = performance.now() - t
  }
  const ik = interp.compile(g)
  const prepared = new Map<number, { p: Prepared; inputs: Float32Array[]; bindings: Record<string, Float32Array> }>()
  const prepMs: number[] = []
  for (const B of BATCHES) {
    const inputs = inputsFor(g, B)
    const bindings = Object.fromEntries(g.inputs.map((n, i) => [n, inputs[i]!]))
    t = performance.now()
    const p = await wave.prepare(g, buildSchedule(lv, B))
    prepMs.push(performance.now() - t)
    prepared.set(B, { p, inputs, bindings })
  }
  compiles.push([shape.name, String(lv.liveCount), shape.fused ? fusedMs.toFixed(0) : 'not run (minutes)', `${Math.min(...prepMs).toFixed(0)}–${Math.max(...prepMs).toFixed(0)}`])
  console.log(`${shape.name}: ${lv.liveCount} nodes, depth ${lv.depth}, widest ${lv.widest}; fused compile ${shape.fused ? `${fusedMs.toFixed(0)} ms` : 'skipped'}`)
  setups.push({ shape, g, ...(fk ? { fk } : {}), ik, prepared })
}

for (let pass = 0; pass < PASSES; pass++) {
  for (const { shape, g, fk, ik, prepared } of setups) {
    const lv = levelize(g)
    for (const B of BATCHES) {
      const { p, inputs, bindings } = prepared.get(B)!
      let cell = cells.find((c) => c.shape === shape.name && c.B === B)
      if (!cell) {
        const got = await wave.run(p, inputs)
        const err = compareResults(got, evaluateCpu(g, bindings, { precision: 'f32' }))
        if (!(err.maxError <= TOLERANCE)) throw new Error(`${shape.name} B=${B}: wavefront error ${err.maxError} at ${err.where}`)
        const fusedErr = fk ? compareResults(await fk.run(bindings, { tier: 'fused' }), evaluateCpu(g, bindings, { precision: 'f32' })).maxError : NaN
        cell = { shape: shape.name, nodes: lv.liveCount, depth: lv.depth, widest: lv.widest, B, fused: [], interp: [], wave: [], err: err.maxError, fusedErr, dispatches: p.schedule.forward.length + p.schedule.reverse.length }
        cells.push(cell)
      }
      if (fk) cell.fused.push(await steady(() => fk.run(bindings, { tier: 'fused' })))
      cell.interp.push(await steady(() => ik.run(bindings, { tier: 'interpreter' })))
      cell.wave.push(await steady(() => wave.run(p, inputs)))
      const f = cell.fused.at(-1)
      console.log(`pass ${pass + 1} ${shape.name} B=${B}: fused ${f?.toFixed(2) ?? '-'} interp ${cell.interp.at(-1)!.toFixed(2)} wave ${cell.wave.at(-1)!.toFixed(2)} ms (err ${cell.err.toExponential(1)})`)
    }
  }
}

const fmt = (xs: number[]) => (xs.length ? xs.map((x) => (x < 10 ? x.toFixed(2) : x.toFixed(1))).join(' / ') : '—')
const best = (xs: number[]) => (xs.length ? Math.min(...xs) : Infinity)
const header = ['graph', 'nodes', 'depth', 'widest', 'B', 'fused ms', 'interpreter ms', 'wavefront ms', 'winner', 'wave vs best other', 'wave max err', 'fused max err']
const rows = cells.map((c) => {
  const tiers = [['fused', best(c.fused)], ['interpreter', best(c.interp)], ['wavefront', best(c.wave)]] as const
  const winner = [...tiers].sort((a, b) => a[1] - b[1])[0]![0]
  const other = Math.min(best(c.fused), best(c.interp))
  const ratio = other / best(c.wave)
  return [c.shape, String(c.nodes), String(c.depth), String(c.widest), String(c.B), fmt(c.fused), fmt(c.interp), fmt(c.wave), winner, ratio >= 1 ? `${ratio.toFixed(2)}x faster` : `${(1 / ratio).toFixed(2)}x slower`, c.err.toExponential(1), Number.isNaN(c.fusedErr) ? '—' : c.fusedErr.toExponential(1)]
})
const markdown = (head: string[], body: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
const table = markdown(header, rows)
const compileTable = markdown(['graph', 'nodes', 'fused compile ms (per graph)', 'wavefront prepare ms (per graph and B: tables + buffers, no shader)'], compiles)
console.log(`\n${table}\n\n${compileTable}`)
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`)

const measured = `${new Date().toISOString().slice(0, 10)}, ${fused.description}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, MESA_SHADER_CACHE_DISABLE=${process.env.MESA_SHADER_CACHE_DISABLE}`
if (!QUICK) writeFileSync(new URL('./WAVEFRONT.generated.md', import.meta.url), `<!-- written by npx tsx bench/wavefront.ts on ${measured} -->\n\nOne-time shader builds: wavefront ${waveBuildMs.toFixed(0)} ms, interpreter ${interpBuildMs.toFixed(0)} ms.\n\n${table}\n\n${compileTable}\n`)
if (!QUICK) console.log('wrote bench/WAVEFRONT.generated.md (the tables; bench/WAVEFRONT.md holds the analysis)')
for (const s of setups) for (const { p } of s.prepared.values()) wave.release(p)
fused.destroy()
interp.destroy()
process.exit(0)
