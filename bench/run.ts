/**
 * npm run bench: wavegrad's GPU engine vs the CPU reference (evaluateCpu) vs compiled JavaScript
 * (straight-line float64 code over the batch), same graphs, same B, same run, as ratios. Also the
 * transfer floor: the same run with every upload, copy and readback but no compute dispatch.
 * Writes bench/RESULTS.md. Not a test: nothing here asserts a time.
 *
 * Env: BENCH_QUICK=1 runs only the smallest batch (for a smoke check).
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { compareResults, createGpuEngine, evaluateCpu, levelize, planKernels, type Graph } from '../src/index.js'
import { emitJs } from '../src/codegen/js.js'
import { benchGraph } from './graphs.js'

const SIZES = [10, 100, 1000]
const BATCHES = process.env.BENCH_QUICK === '1' ? [1 << 12] : [1 << 12, 1 << 16, 1 << 20]
/** evaluateCpu is measured on at most this many bindings and reported as a rate. */
const REFERENCE_CAP = 1 << 14

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

async function timeIt(reps: number, f: () => unknown): Promise<number> {
  const ts: number[] = []
  for (let i = 0; i < reps; i++) {
    const t = performance.now()
    await f()
    ts.push(performance.now() - t)
  }
  return median(ts)
}

function inputsFor(g: Graph, B: number): Record<string, Float32Array> {
  let s = 12345
  return Object.fromEntries(
    g.inputs.map((name) => {
      const a = new Float32Array(B)
      for (let i = 0; i < B; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0
        a[i] = (s / 4294967296) * 4 - 2
      }
      return [name, a]
    }),
  )
}

const engine = await createGpuEngine()
let t = 0
const rows: string[][] = []
const header = ['nodes', 'B', 'compile ms', 'GPU ms', 'GPU Mbind/s', 'upload/dispatch/readback ms', 'floor ms', 'GPU/floor', 'JS ms', 'GPU vs JS', 'ref Mbind/s', 'GPU vs ref', 'JS vs ref', 'max err']
console.log(`adapter: ${engine.description}`)
for (const size of SIZES) {
  const g = benchGraph(size)
  const levels = levelize(g)
  const plan = planKernels(levels)
  t = performance.now()
  const kernel = engine.compile(g)
  await kernel.ready
  const compileMs = performance.now() - t
  const js = emitJs(levels, plan)
  for (const B of BATCHES) {
    const bindings = inputsFor(g, B)
    const arrays = g.inputs.map((n) => bindings[n]!)
    const reps = B >= 1 << 20 ? 5 : 9
    await kernel.run(bindings)
    const gpuMs = await timeIt(reps, () => kernel.run(bindings))
    const profiled = (await kernel.run(bindings, { profile: true })).timings!
    await kernel.run(bindings, { transferOnly: true })
    const floorMs = await timeIt(reps, () => kernel.run(bindings, { transferOnly: true }))
    const out = plan.rows.map(() => new Float64Array(B))
    js(arrays, out, 0, B)
    const jsMs = await timeIt(size >= 1000 && B >= 1 << 20 ? 1 : 3, () => js(arrays, out, 0, B))
    const nRef = Math.min(B, REFERENCE_CAP)
    const sub = Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, v.subarray(0, nRef)]))
    t = performance.now()
    const ref = evaluateCpu(g, sub)
    const refRate = nRef / (performance.now() - t) / 1e3
    const gpu = await kernel.run(sub)
    const err = compareResults(gpu, ref).maxError
    const gpuRate = B / gpuMs / 1e3
    rows.push([
      String(levels.liveCount), `2^${Math.log2(B)}`, compileMs.toFixed(0), gpuMs.toFixed(1), gpuRate.toFixed(1),
      `${profiled.upload.toFixed(1)}/${profiled.dispatch.toFixed(1)}/${profiled.readback.toFixed(1)}`,
      floorMs.toFixed(1), (gpuMs / floorMs).toFixed(2), jsMs.toFixed(1), `${(jsMs / gpuMs).toFixed(1)}x`,
      refRate.toFixed(2), `${(gpuRate / refRate).toFixed(0)}x`, `${(B / jsMs / 1e3 / refRate).toFixed(1)}x`, err.toExponential(1),
    ])
    console.log(rows[rows.length - 1]!.join('  '))
  }
}
engine.destroy()

// Tiers: a NEW graph (cold caches) on an engine whose interpreter is already built.
const tierHeader = ['nodes', 'first result ms (tier)', 'fused compile ms', 'interpreter ms', 'fused ms', 'interp/fused', 'crossover B']
const tierRows: string[][] = []
const TIER_B = 1 << 16
t = performance.now()
const auto = await createGpuEngine({ tier: 'auto' })
await auto.interpreter()
const interpreterBuildMs = performance.now() - t
for (const size of SIZES) {
  const g = benchGraph(size, 2)
  const bindings = inputsFor(g, TIER_B)
  t = performance.now()
  const first = await auto.evaluate(g, bindings)
  const firstMs = performance.now() - t
  const kernel = auto.compile(g)
  await kernel.ready
  const fusedReadyMs = performance.now() - t
  const interpMs = await timeIt(3, () => kernel.run(bindings, { tier: 'interpreter' }))
  const fusedMs = await timeIt(3, () => kernel.run(bindings, { tier: 'fused' }))
  const perBinding = (interpMs - fusedMs) / TIER_B
  const crossover = perBinding > 0 ? Math.round(fusedReadyMs / perBinding) : Infinity
  tierRows.push([String(levelize(g).liveCount), `${firstMs.toFixed(0)} (${first.tier})`, fusedReadyMs.toFixed(0), interpMs.toFixed(1), fusedMs.toFixed(1), `${(interpMs / fusedMs).toFixed(0)}x`, crossover.toLocaleString('en-US')])
  console.log(tierRows[tierRows.length - 1]!.join('  '))
}
auto.destroy()

const markdown = (head: string[], body: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
const table = markdown(header, rows)
const md = `# wavegrad benchmark results

Produced by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}.

- Adapter: **${engine.description}**
- Host: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}
- Graphs: bench/graphs.ts (4 inputs, 2 outputs, smooth op mix; "nodes" = live nodes). Every run
  computes both outputs' values and their full Jacobians (10 result rows per binding).
- compile ms: \`engine.compile\` until \`kernel.ready\` (plan, WGSL, pipeline, warm-up dispatch), cold:
  \`npm run bench\` disables Mesa's on-disk shader cache (MESA_SHADER_CACHE_DISABLE=${process.env.MESA_SHADER_CACHE_DISABLE ?? 'unset'}).
- GPU ms: median end-to-end \`kernel.run\` (upload, dispatch, readback into Float32Arrays), after
  warm-up. The split comes from one extra run with \`profile: true\` (stages serialized).
- floor ms: the same run with every upload, copy and readback but no compute
  (\`transferOnly: true\`): what moving the bytes alone costs on this adapter.
- JS ms: compiled straight-line float64 JavaScript over the batch (src/codegen/js.ts), same inputs.
- ref: the CPU reference engine (evaluateCpu), measured on min(B, 2^14) bindings, as a rate.
- max err: compareResults(GPU, float64 reference) on min(B, 2^14) bindings (scaled error).

${table}

- JS vs ref: the compiled JavaScript (also the CPU engine, createEngine's fallback) against the
  reference engine, both float64.

## Tiers: time to a new graph's first result (B = 2^${Math.log2(TIER_B)})

Engine with \`tier: 'auto'\`; its interpreter (one shader for every graph) took
${interpreterBuildMs.toFixed(0)} ms to build and warm up, once. Each graph is new (cold caches).
"first result" runs from the \`evaluate\` call; "fused compile" is when the fused kernel became
ready, from the same start. "crossover B": the batch size above which waiting for the fused
compile and running fused beats running the interpreter at once.

${markdown(tierHeader, tierRows)}
`
writeFileSync(new URL('./RESULTS.md', import.meta.url), md)
console.log('\nwrote bench/RESULTS.md')
process.exit(0)
