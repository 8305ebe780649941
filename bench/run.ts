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
import { COMPILE_AFTER, compareResults, COST_BUDGET, createCpuEngine, createEngine, createGpuEngine, evaluateCpu, Graph, levelize, parse, predictPlanCompileMs, programOf, type Expr, type Timings } from '../src/index.js'
import { WORKLOADS } from './workloads.js'
import { emitJs } from '../src/codegen/js.js'
import { benchGraph, benchInputs } from './graphs.js'
import { SCALABLE_SHAPES } from './shapes.js'

const SIZES = [10, 100, 1000]
const BATCHES = process.env.BENCH_QUICK === '1' ? [1 << 12] : [1 << 12, 1 << 16, 1 << 20]
/** evaluateCpu is measured on at most this many bindings and reported as a rate. */
const REFERENCE_CAP = 1 << 14
/** Compiled JavaScript and the CPU engine warm up on this many bindings (enough for every thread). */
const CPU_WARM_UP = 1 << 16

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
  const arrays = benchInputs(g.inputs, B)
  return Object.fromEntries(g.inputs.map((name, i) => [name, arrays[i]!]))
}

const engine = await createGpuEngine()
/** Some of the text below is about the software adapter. */
const SOFTWARE = engine.software
let t = 0
const rows: string[][] = []
// Compiled from the first run (compileAfter: 0): this table is about the compiled code.
const cpuEngine = createCpuEngine({ compileAfter: 0 })
const header = ['nodes', 'B', 'compile ms', 'GPU ms', 'GPU Mbind/s', 'upload/dispatch/readback ms', 'floor ms', 'GPU/floor', 'JS ms', 'GPU vs JS', 'ref Mbind/s', 'GPU vs ref', 'JS vs ref', 'CPU engine ms', 'CPU engine vs ref', 'max err']
let cpuThreads = ''
console.log(`adapter: ${engine.description}`)
for (const size of SIZES) {
  const g = benchGraph(size)
  const levels = levelize(g)
  const plan = programOf(g)
  t = performance.now()
  const kernel = engine.compile(g)
  await kernel.ready
  const compileMs = performance.now() - t
  const js = emitJs(plan)
  const cpuKernel = cpuEngine.compile(g)
  for (const B of BATCHES) {
    const bindings = inputsFor(g, B)
    const arrays = g.inputs.map((n) => bindings[n]!)
    const reps = B >= 1 << 20 ? 5 : 9
    await kernel.run(bindings)
    const gpuMs = await timeIt(reps, () => kernel.run(bindings))
    const profiled = (await kernel.run(bindings, { profile: true })).timings!
    await kernel.run(bindings, { transferOnly: true })
    const floorMs = await timeIt(reps, () => kernel.run(bindings, { transferOnly: true }))
    // Warm-up as for the GPU: V8 optimizes generated code only after many calls (and each worker
    // thread its own copy), so both run a few times on up to CPU_WARM_UP bindings before the clock.
    const out = plan.rows.map(() => new Float64Array(B))
    const warm = Math.min(B, CPU_WARM_UP)
    for (let i = 0; i < 3; i++) js(arrays, out, 0, warm)
    const jsMs = await timeIt(size >= 1000 && B >= 1 << 20 ? 1 : 3, () => js(arrays, out, 0, B))
    // The CPU engine: the same compiled JavaScript, the batch split over worker threads.
    const warmBindings = Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, v.subarray(0, warm)]))
    for (let i = 0; i < 3; i++) await cpuKernel.run(warmBindings)
    cpuThreads = (await cpuKernel.run(bindings)).backend
    const cpuMs = await timeIt(size >= 1000 && B >= 1 << 20 ? 1 : 3, () => cpuKernel.run(bindings))
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
      refRate.toFixed(2), `${(gpuRate / refRate).toFixed(0)}x`, `${(B / jsMs / 1e3 / refRate).toFixed(1)}x`, cpuMs.toFixed(1), `${(B / cpuMs / 1e3 / refRate).toFixed(1)}x`, err.toExponential(1),
    ])
    console.log(rows[rows.length - 1]!.join('  '))
  }
}

// Shapes (issue 18): new graphs of shapes nobody designed a kernel for, on an engine with the
// default options (tier 'auto') whose interpreter is already built.
/** New graphs per shape and size whose first results are timed (this machine's timings drift). */
const SHAPE_GRAPHS = process.env.BENCH_QUICK === '1' ? 1 : 5
const SHAPE_SIZES = process.env.BENCH_QUICK === '1' ? [1000] : [100, 1000, 10_000]
const shapeHeader = ['shape', 'nodes', 'program nodes', `first result: median (range) ms, ${SHAPE_GRAPHS} new graphs`, 'tier', 'fused kernels', 'fused build ms (model)', 'interpreter ms', "'auto' after the switch ms", 'interp / fused']
const shapeRows: string[][] = []
const TIER_B = 1 << 16
t = performance.now()
const defaults = await createGpuEngine()
await defaults.interpreter()
const interpreterBuildMs = performance.now() - t
const defaultsBudget = defaults.segmentCost
for (const shape of SCALABLE_SHAPES) {
  for (const size of SHAPE_SIZES) {
    const firsts: number[] = []
    const tiers = new Set<string>()
    let g = shape.build(size, 1)
    let bindings = inputsFor(g, TIER_B)
    for (let seed = 1; seed <= SHAPE_GRAPHS; seed++) {
      g = shape.build(size, seed)
      bindings = inputsFor(g, TIER_B)
      t = performance.now()
      tiers.add((await defaults.evaluate(g, bindings)).tier)
      firsts.push(performance.now() - t)
    }
    // The last graph again: its second run queues the background build; timed until it is done.
    const kernel = defaults.compile(g)
    t = performance.now()
    await defaults.evaluate(g, bindings)
    while (defaults.stats().builds > 0) await new Promise((resolve) => setTimeout(resolve, 10))
    const buildMs = performance.now() - t
    const interpMs = await timeIt(3, () => defaults.evaluate(g, bindings, { tier: 'interpreter' }))
    const after = await defaults.evaluate(g, bindings)
    const autoMs = await timeIt(3, () => defaults.evaluate(g, bindings))
    const plan = kernel.plan
    const fused = after.tier === 'fused'
    shapeRows.push([
      shape.name,
      String(levelize(g).liveCount),
      String(plan.liveCount),
      `${median(firsts).toFixed(0)} (${Math.min(...firsts).toFixed(0)}–${Math.max(...firsts).toFixed(0)})`,
      [...tiers].join(', '),
      fused ? String(plan.kernels.length) : '–',
      fused ? `${buildMs.toFixed(0)} (${predictPlanCompileMs(plan).toFixed(0)})` : `none (model: ${(predictPlanCompileMs(plan) / 1000).toFixed(0)} s > AUTO_BUILD_MS)`,
      interpMs.toFixed(1),
      `${autoMs.toFixed(1)} (${after.tier})`,
      fused ? `${(interpMs / autoMs).toFixed(1)}x` : '–',
    ])
    console.log(shapeRows[shapeRows.length - 1]!.join('  '))
  }
}
defaults.destroy()

// Huge graphs: the interpreter and the CPU engine from the evaluate call, new graph, cold.
const hugeHeader = ['nodes', 'engine', 'first result ms', 'again ms', `B`, 'max err']
const hugeRows: string[][] = []
const HUGE_B = 1 << 12
const interp = await createGpuEngine({ tier: 'interpreter' })
await interp.interpreter()
const hugeCpu = createCpuEngine()
for (const size of process.env.BENCH_QUICK === '1' ? [10_000] : [10_000, 100_000]) {
  const g = benchGraph(size, 4)
  const bindings = inputsFor(g, HUGE_B)
  const check = inputsFor(g, 256)
  const ref = evaluateCpu(g, check)
  const nodes = String(levelize(g).liveCount)
  for (const [name, e] of [['GPU interpreter', interp], ['CPU engine', hugeCpu]] as const) {
    t = performance.now()
    await e.evaluate(g, bindings)
    const firstMs = performance.now() - t
    const againMs = await timeIt(1, () => e.evaluate(g, bindings))
    const err = compareResults(await e.evaluate(g, check), ref).maxError
    hugeRows.push([nodes, name, firstMs.toFixed(0), againMs.toFixed(0), `2^${Math.log2(HUGE_B)}`, err.toExponential(1)])
    console.log(hugeRows[hugeRows.length - 1]!.join('  '))
  }
}
interp.destroy()
hugeCpu.destroy()

// Segments: the same graphs compiled as one kernel and cut by the default and a smaller budget.
const segHeader = ['nodes', 'budget', 'kernels', 'scratch words/binding', 'compile ms', `GPU ms (B = 2^${Math.log2(TIER_B)})`, 'max err']
const segRows: string[][] = []
for (const size of process.env.BENCH_QUICK === '1' ? [1000] : [1000, 2000]) {
  const g = benchGraph(size, 3)
  const bindings = inputsFor(g, TIER_B)
  const check = inputsFor(g, REFERENCE_CAP)
  for (const budget of [Infinity, COST_BUDGET / 4, COST_BUDGET / 16]) {
    const e = await createGpuEngine({ segmentCost: budget })
    t = performance.now()
    const kernel = e.compile(g)
    await kernel.ready
    const compileMs = performance.now() - t
    const ms = await timeIt(3, () => kernel.run(bindings))
    const err = compareResults(await kernel.run(check), evaluateCpu(g, check)).maxError
    segRows.push([String(levelize(g).liveCount), String(budget), String(kernel.sources.length), String(kernel.plan.scratch?.rows ?? 0), compileMs.toFixed(0), ms.toFixed(1), err.toExponential(1)])
    console.log(segRows[segRows.length - 1]!.join('  '))
    e.destroy()
  }
}

// Parameter gradients: a model with P parameters over B = 2^20 data points; the batch sums on the
// GPU (sumsOnly: nothing of size B read back) vs reading every row back, and the CPU reference.
const paramHeader = ['params', 'B', 'GPU sumsOnly ms', 'GPU all rows ms', 'Mbind/s (sumsOnly)', 'reference Mbind/s', 'max rel err vs f64']
const paramRows: string[][] = []
const PARAM_B = process.env.BENCH_QUICK === '1' ? 1 << 16 : 1 << 20
for (const P of [3, 8]) {
  const g = new Graph()
  const xIn = g.input('x')
  const yIn = g.input('y')
  const w = Array.from({ length: P }, (_, i) => g.param(`w${i}`))
  // y ≈ Σ_i w_i · tanh(x · (i + 1) / P): a small model, its squared error averaged over the batch.
  let model: Expr = g.constant(0)
  w.forEach((wi, i) => (model = model.add(wi.mul(xIn.mul((i + 1) / P).tanh()))))
  g.output('loss', model.sub(yIn).pow(2).mul(1 / PARAM_B))
  const data = inputsFor(g, PARAM_B)
  const bindings: Record<string, Float32Array | number> = { x: data.x!, y: data.y!, ...Object.fromEntries(w.map((_, i) => [`w${i}`, 0.1 * (i + 1)])) }
  const kernel = engine.compile(g)
  await kernel.ready
  const sumsMs = await timeIt(5, () => kernel.run(bindings, { sumsOnly: true }))
  const allMs = await timeIt(3, () => kernel.run(bindings))
  const small = Object.fromEntries(Object.entries(bindings).map(([k, v]) => [k, typeof v === 'number' ? v : v.subarray(0, REFERENCE_CAP)]))
  t = performance.now()
  const ref = evaluateCpu(g, small)
  const refRate = REFERENCE_CAP / (performance.now() - t) / 1e3
  const gpuSmall = await kernel.run(small)
  let err = 0
  for (const [name, v] of Object.entries(ref.gradients!.loss!)) err = Math.max(err, Math.abs(gpuSmall.gradients!.loss![name]! - v) / Math.max(Math.abs(v), 1e-30))
  paramRows.push([String(P), `2^${Math.log2(PARAM_B)}`, sumsMs.toFixed(1), allMs.toFixed(1), (PARAM_B / sumsMs / 1e3).toFixed(1), refRate.toFixed(2), err.toExponential(1)])
  console.log(paramRows[paramRows.length - 1]!.join('  '))
}
engine.destroy()
cpuEngine.destroy()

// ---------------------------------------------------------------------------------------------
// Transfer path: where an end-to-end GPU run's time goes (the race's workloads, B = 2^20), with
// the tiles pipelined (the default) and not (pipelineTiles: 1), and into arrays the caller keeps.

const PROFILE_B = process.env.BENCH_QUICK === '1' ? 1 << 18 : 1 << 20
const profileHeader = ['workload', 'end to end ms', 'one tile ms', 'into kept arrays ms', 'transfer floor ms', 'profiled ms', 'prepare', 'pack', 'copy in', 'dispatch', 'copy out', 'map', 'unpack', 'accounted', 'e2e / max(floor, dispatch)']
const profileRows: string[][] = []
{
  const piped = await createGpuEngine({ tier: 'fused' })
  const whole = await createGpuEngine({ tier: 'fused', pipelineTiles: 1, device: piped.device })
  for (const w of WORKLOADS) {
    const g = parse(w.source)
    const b = inputsFor(g, PROFILE_B)
    const [k, k1] = [piped.compile(g), whole.compile(g)]
    await Promise.all([k.ready, k1.ready])
    const kept = await k.run(b)
    await k1.run(b)
    const e2e = await timeIt(7, () => k.run(b))
    const one = await timeIt(7, () => k1.run(b))
    const into = await timeIt(7, () => k.run(b, { into: kept }))
    const floor = await timeIt(7, () => k.run(b, { transferOnly: true }))
    const profiles = [] as Timings[]
    for (let i = 0; i < 5; i++) profiles.push((await k.run(b, { profile: true })).timings!)
    const p = profiles.sort((x, y) => x.total - y.total)[2]!
    const stages = p.prepare + p.pack + p.copyIn + p.dispatch + p.copyOut + p.map + p.unpack
    const f = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1)
    profileRows.push([`${w.id} ${w.name}`, f(e2e), f(one), f(into), f(floor), f(p.total), f(p.prepare), f(p.pack), f(p.copyIn), f(p.dispatch), f(p.copyOut), f(p.map), f(p.unpack), `${((100 * stages) / p.total).toFixed(0)}%`, (e2e / Math.max(floor, p.dispatch)).toFixed(2)])
    console.log(profileRows[profileRows.length - 1]!.join('  '))
  }
  whole.destroy()
  piped.destroy()
}

// ---------------------------------------------------------------------------------------------
// Backends: what createEngine() (the auto engine) predicts for each graph and batch, where it runs,
// and what each backend measures when forced.

const backendHeader = ['graph', 'nodes', 'B', 'predicted CPU ms', 'predicted GPU ms', 'chose', 'CPU ms (forced)', 'GPU ms (forced)', 'auto ms', 'faster backend', 'right?']
const backendRows: string[][] = []
const auto = await createEngine()
const calibration = auto.calibration
{
  const cases: { name: string; graph: Graph; sizes: number[] }[] = [
    ...WORKLOADS.map((w) => ({ name: `${w.id} ${w.name}`, graph: parse(w.source), sizes: process.env.BENCH_QUICK === '1' ? [1 << 12] : [1 << 10, 1 << 14, 1 << 18, 1 << 20] })),
    ...SCALABLE_SHAPES.filter((s) => s.name.startsWith('random DAG') || s.name.startsWith('tanh MLP')).map((s) => ({ name: `${s.name.split(' (')[0]} (1,000 nodes)`, graph: s.build(1000, 1), sizes: process.env.BENCH_QUICK === '1' ? [1 << 12] : [1 << 10, 1 << 14, 1 << 16] })),
  ]
  for (const { name, graph, sizes } of cases) {
    const kernel = auto.compile(graph)
    await kernel.ready
    for (const B of sizes) {
      const b = inputsFor(graph, B)
      // Warm both backends (V8's code, the GPU's first dispatch), then measure each forced.
      for (const backend of ['cpu', 'gpu'] as const) for (let i = 0; i < 2; i++) await kernel.run(b, { backend })
      const cpuMs = await timeIt(5, () => kernel.run(b, { backend: 'cpu' }))
      const gpuMs = await timeIt(5, () => kernel.run(b, { backend: 'gpu' }))
      const why = kernel.explain(B)
      const autoMs = await timeIt(5, () => kernel.run(b))
      const faster = cpuMs < gpuMs ? 'cpu' : 'gpu'
      const close = Math.max(cpuMs, gpuMs) / Math.min(cpuMs, gpuMs) < 1.2
      const f = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '—' : ms.toFixed(ms < 10 ? 2 : 1))
      backendRows.push([name, String(why.cost.nodes), `2^${Math.log2(B)}`, f(why.predicted.cpu), f(why.predicted.gpu), why.backend.toUpperCase(), f(cpuMs), f(gpuMs), f(autoMs), faster.toUpperCase(), why.backend === faster ? 'yes' : close ? 'within 20%' : '**no**'])
      console.log(backendRows[backendRows.length - 1]!.join('  '))
    }
    kernel.destroy()
  }
}
auto.destroy()
const rates = (o: object) => Object.entries(o).map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) < 0.01 && v !== 0 ? v.toExponential(2) : v.toFixed(2)) : String(v)}`).join(', ')

const markdown = (head: string[], body: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')
const table = markdown(header, rows)
const md = `# wavegrad benchmark results

Produced by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}. Figures from a real GPU (an NVIDIA
H100, through scripts/gpu-check.sh): [RESULTS-nvidia-h100.md](RESULTS-nvidia-h100.md).

- Adapter: **${engine.description}**
- Host: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}
- Graphs: bench/graphs.ts (4 inputs, 2 outputs, smooth op mix; "nodes" = live nodes). Every run
  computes both outputs' values and their full Jacobians (10 result rows per binding).
- compile ms: \`engine.compile\` until \`kernel.ready\` (plan, WGSL, pipeline, warm-up dispatch), cold:
  \`npm run bench\` disables Mesa's and NVIDIA's on-disk shader caches (MESA_SHADER_CACHE_DISABLE=${process.env.MESA_SHADER_CACHE_DISABLE ?? 'unset'},
  __GL_SHADER_DISK_CACHE=${process.env.__GL_SHADER_DISK_CACHE ?? 'unset'}).
- GPU ms: median end-to-end \`kernel.run\` (upload, dispatch, readback into Float32Arrays), after
  warm-up. The split comes from one extra run with \`profile: true\` (stages serialized).
- floor ms: the same run with every upload, copy and readback but no compute
  (\`transferOnly: true\`): what moving the bytes alone costs on this adapter.
- JS ms: compiled straight-line float64 JavaScript over the batch (src/codegen/js.ts), same inputs,
  after three warm-up runs on min(B, 2^${Math.log2(CPU_WARM_UP)}) bindings (V8 optimizes generated code only after many calls; the
  CPU engine warms up the same way, each worker thread holding its own copy of the code).
- ref: the CPU reference engine (evaluateCpu), measured on min(B, 2^14) bindings, as a rate.
- max err: compareResults(GPU, float64 reference) on min(B, 2^14) bindings (scaled error).

${table}

- JS vs ref: the compiled JavaScript on one thread against the reference engine, both float64.
- CPU engine: \`createCpuEngine({ compileAfter: 0 })\` (what createEngine() runs on the CPU, there with float32
  results) running the same generated JavaScript (these graphs have transcendentals: no WebAssembly
  kernel), the batch split over threads where that was measured faster for the graph (last run:
  ${/(\d+ threads)$/.exec(cpuThreads)?.[1] ?? 'the calling thread alone'}), from Float32Array inputs to Float64Array rows; "vs ref" against the
  reference engine's rate.

## Shapes: a new graph's first result with the default options (B = 2^${Math.log2(TIER_B)})

\`createGpuEngine()\` with no options (tier 'auto'); its interpreter (one shader for every graph) took
${interpreterBuildMs.toFixed(0)} ms to build and warm up, once, at engine creation${SOFTWARE ? ' (with its register file, made and zeroed then)' : ''}.
Shapes from bench/shapes.ts SCALABLE_SHAPES at about 100, 1,000 and 10,000 nodes ("nodes": the graph's
live nodes; "program nodes": with its reverse sweeps, what runs). "first result": from the
\`evaluate\` call to the Float32Arrays, over ${SHAPE_GRAPHS} new graphs of each shape and size (different seeds),
each evaluated once (no graph waits for a compile; "tier" says which ran). "fused build": the last
graph's second \`evaluate\` queues its fused build in the background (one kernel per segment of the
engine's default budget, ${defaultsBudget.toLocaleString('en-US')} cost units); timed from that call until the build is done, with the
software adapter's compile model (plan.ts predictPlanCompileMs) beside it. Then steady state:
the interpreter (forced), and the default tier after the switch (in brackets: the tier that ran).

${markdown(shapeHeader, shapeRows)}

On the software adapter every 1,000-node shape gives its first result in well under a second
without a compile, and after the switch runs on one fused kernel, ~10–50x faster than the
interpreter. At 10^4 nodes the planner cuts the program into tens to hundreds of kernels of
bounded compile time (plan.ts cutProgram): the build takes tens of seconds in the background and
the segmented kernels ran only 1–4x faster than the interpreter; a graph whose predicted build
exceeds AUTO_BUILD_MS stays on the interpreter.

## Transfer path: where an end-to-end GPU run's time goes (B = 2^${Math.log2(PROFILE_B)})

The race's workloads (bench/workloads.ts) on \`createGpuEngine({ tier: 'fused' })\`, from JS Float32Arrays
to JS Float32Arrays, median of 7: **end to end** with the default tiling (a batch of 2^17 or more is cut
into 4 tiles or more, ${'3'} in flight: one tile's readback overlaps the next ones' upload and compute),
**one tile** (\`pipelineTiles: 1\`: upload, compute and readback one after another), **into kept
arrays** (\`{ into }\`: results written into arrays the caller keeps, so no fresh memory is touched),
and the **transfer floor** (\`transferOnly\`: the same bytes moved, no compute). The stages come from
\`{ profile: true }\` (median of 5 profiled runs; each tile's stages submitted alone and awaited, so they
add up): **prepare** checking bindings and allocating the result arrays, **pack** JavaScript copying
inputs into the upload path, **copy in** the queue's upload, **dispatch** the kernel, **copy out** into the
staging buffer, **map** the mapAsync wait, **unpack** copying out of the mapped range into the result
arrays (their first touch: the page faults of fresh memory land here). **accounted** = the stages' sum /
the profiled run's end to end.

${markdown(profileHeader, profileRows)}

## Backends: where createEngine() runs each graph

\`createEngine()\` with no options is the auto engine: each run goes to the GPU engine or to the CPU
engine's threads (compiled JavaScript, float64 arithmetic, float32 results), whichever its model
predicts is faster for this graph and B (src/auto.ts; \`engine.explain(graph, B)\` says why).
Calibration on this machine: ${calibration.ms.toFixed(0)} ms (after the GPU engine's interpreter was built).
CPU rates (ms per binding): ${rates(calibration.cpu)}. GPU rates: ${calibration.gpu ? rates(calibration.gpu) : 'no GPU'}.
Each row: the prediction after the kernel's fused build and two warm-up runs of each backend (the
model's corrections from those runs included), the median of 5 runs forced onto each backend, and
5 runs left to the model. **right?**: the model chose the backend measured faster (or one within 20%).

${markdown(backendHeader, backendRows)}

## Parameter gradients: batch sums on the GPU

A model y ≈ Σ_i w_i · tanh(x · (i+1)/P) with P parameters, squared error averaged over the batch.
"sumsOnly": \`kernel.run(b, { sumsOnly: true })\` — the per-binding rows stay on the GPU, a
deterministic reduction (partials of 64 bindings, fixed order) sums the parameter gradients and the loss, and only those few numbers
are read back (one training step). "all rows": the same run reading back every per-binding row.
max rel err: the GPU's batch-summed gradients vs the float64 reference on 2^${Math.log2(REFERENCE_CAP)} bindings.

${markdown(paramHeader, paramRows)}

## Huge graphs: no per-graph compile

bench/graphs.ts graphs of 10^4 and 10^5 nodes, new to the engine, from the \`evaluate\` call
(levelize, plan, tape or compiled JavaScript, run, readback); "again": the same call once more.
The CPU engine has its default \`compileAfter\` (${COMPILE_AFTER} bindings): a graph's first bindings run
on the reference engine (same numbers), because V8 needs thousands of calls before generated code
of this size runs fast.
${SOFTWARE ? `A fused kernel takes long here: the default plan cuts a graph this size into dozens of
segments of about 1 s of compile each; 'auto' keeps a graph whose predicted build exceeds AUTO_BUILD_MS on the interpreter.` : `A fused kernel takes long here too: on an H100 a 10,000-node graph compiled in 14.5 s cut into
segments (bench/huge-compile.ts, RESULTS-nvidia-h100.md, measured with the earlier reverse kernels).`}
max err: against the float64 reference on 256 bindings (scaled error).

${markdown(hugeHeader, hugeRows)}

## Segments: one fused kernel vs kernels cut by a cost budget

\`segmentCost\` budget (plan.ts segmentCost: the operations of a node's WGSL, helpers included, plus 2;
Infinity = one kernel) over the graph's Jacobian program (its forward nodes and reverse
sweeps, one schedule); S segments run as S kernels in order, a kernel of the sweeps computing the
forward values it reads again from checkpoints (up to twice the budget). "scratch" is what crosses
the cuts, per binding${SOFTWARE ? ', moved in loops over private arrays on this adapter (engine option loopAccesses)' : ''}. Cold compiles, as above.

${markdown(segHeader, segRows)}
`
writeFileSync(new URL('./RESULTS.md', import.meta.url), md)
console.log('\nwrote bench/RESULTS.md')
process.exit(0)
