/**
 * Fused compile time on this adapter against the compile model (plan.ts SOFTWARE_COMPILE_MODEL),
 * and what made it quadratic. Writes bench/COMPILE.md; asserts nothing.
 *
 *   npm run bench:compile
 *
 * 1. One kernel (segmentCost: Infinity) for each program of a catalogue of shapes at growing sizes:
 *    measured cold compile (engine.compile until kernel.ready) beside the model's prediction from
 *    the kernel's cost and the inputs and rows it moves. The model was fitted to this table.
 * 2. Default plans of sin chains of growing length: segments of bounded compile time add up
 *    linearly.
 * 3. The cause found: chains of the sin/cos helper's body written in WGSL by hand, with the
 *    quadrant found by a float-to-int conversion (`i32(q) & 3`, as the helper did) and in f32
 *    (as it does now).
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { BUFFER_USAGE, createGpuEngine, planKernels, predictCompileMs, predictPlanCompileMs, programOf, segmentCost, SOFTWARE_COMPILE_MODEL, type Graph } from '../src/index.js'
import { benchGraph } from './graphs.js'
import { chain, manyInputs, manyOutputs, minMaxChain, mlp, randomDag, sumTree, whereChain } from './shapes.js'

const quick = process.env.BENCH_QUICK === '1'

const CATALOGUE: [string, () => Graph][] = [
  ...[300, 600, 1200, 2400].map((n): [string, () => Graph] => [`sin chain of ${n} nodes`, () => chain('sin', n)]),
  ...[1000, 2000, 4000, 8000].map((n): [string, () => Graph] => [`cheap chain of ${n} nodes`, () => chain('cheap', n)]),
  ...[100, 200, 400, 800].map((n): [string, () => Graph] => [`sum of ${n} sin terms (tree)`, () => sumTree(n)]),
  ...[250, 500, 1000, 2000].map((n): [string, () => Graph] => [`random DAG of ${n} nodes`, () => randomDag(n, 5)]),
  ...[[4, 8, 8, 1], [4, 16, 16, 1], [8, 24, 24, 2], [16, 32, 32, 4]].map((w): [string, () => Graph] => [`tanh MLP ${w.join('-')}`, () => mlp(3, w)]),
  ...[100, 300, 1000, 2000].map((n): [string, () => Graph] => [`bench graph ${n}`, () => benchGraph(n)]),
  ...[50, 100, 200].map((n): [string, () => Graph] => [`${n} outputs`, () => manyOutputs(n)]),
  ...[50, 100, 200].map((n): [string, () => Graph] => [`${n} inputs`, () => manyInputs(n)]),
  ...[150, 300, 600].map((n): [string, () => Graph] => [`where chain ${n} deep`, () => whereChain(n)]),
  ...[150, 300, 600].map((n): [string, () => Graph] => [`min/max chain ${n} deep`, () => minMaxChain(n)]),
]

const markdown = (head: string[], body: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n')

// 1. One kernel per program.
const whole = await createGpuEngine({ tier: 'fused', segmentCost: Infinity })
await whole.compile(chain('cheap', 10)).ready
const modelRows: string[][] = []
const ratios: number[] = []
for (const [name, build] of quick ? CATALOGUE.filter((_, i) => i % 4 === 1) : CATALOGUE) {
  const g = build()
  const plan = planKernels(programOf(g), { segmentCost: Infinity })
  const cost = plan.kernels[0]!.cost
  const accesses = plan.inputs.length + plan.rows.length
  const t = performance.now()
  await whole.compile(g).ready
  const ms = performance.now() - t
  const predicted = predictCompileMs(cost, accesses)
  ratios.push(ms / predicted)
  modelRows.push([name, String(plan.liveCount), cost.toLocaleString('en-US'), String(accesses), ms.toFixed(0), predicted.toFixed(0), (ms / predicted).toFixed(2)])
  console.log(modelRows[modelRows.length - 1]!.join('  '))
}
whole.destroy()
const geo = Math.exp(Math.sqrt(ratios.reduce((a, r) => a + Math.log(r) ** 2, 0) / ratios.length))
const worst = Math.max(...ratios.map((r) => Math.max(r, 1 / r)))

// 2. Default plans: segments of bounded compile time.
const segmented = await createGpuEngine({ tier: 'fused' })
const segRows: string[][] = []
for (const n of quick ? [1200, 4800] : [1200, 2400, 4800, 9600]) {
  const g = chain('sin', n)
  const t = performance.now()
  const kernel = segmented.compile(g)
  await kernel.ready
  const ms = performance.now() - t
  const plan = kernel.plan
  segRows.push([String(n), String(plan.liveCount), String(plan.kernels.length), ms.toFixed(0), (ms / n).toFixed(2), predictPlanCompileMs(plan).toFixed(0)])
  console.log(segRows[segRows.length - 1]!.join('  '))
}
const budget = segmented.segmentCost
segmented.destroy()

// 3. The sin/cos body by hand: the quadrant by i32(q) & 3 against the quadrant in f32.
const BODY = `  let q = round(x * 0.6366197723675814);
  var r = x - q * 1.5703125;
  r = r - q * 4.837512969970703125e-4;
  r = r - q * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));`
const QUADRANT = {
  'i32(q) & 3': `  let k = i32(q) & 3;
  let sv = select(s, c, (k & 1) != 0);
  return select(sv, -sv, (k & 2) != 0);`,
  'in f32': `  let k = q - 4.0 * floor(q * 0.25);
  let sv = select(s, c, (k == 1.0) | (k == 3.0));
  return select(sv, -sv, k >= 2.0);`,
}
function handKernel(quadrant: string, steps: number): string {
  const lines = [`fn h(x: f32) -> f32 {\n${BODY}\n${quadrant}\n}`, '@group(0) @binding(0) var<storage, read_write> data: array<f32>;', '@compute @workgroup_size(128)', 'fn main(@builtin(global_invocation_id) gid: vec3<u32>) {', '  let y = data[gid.x];', '  var t = data[gid.x + 1u];']
  for (let i = 0; i < steps; i++) lines.push('  t = t + 0.00001 * h(t + y);')
  lines.push('  data[gid.x] = t;', '}')
  return lines.join('\n')
}
const raw = await createGpuEngine({ tier: 'fused' })
const device = raw.device
async function buildMs(code: string): Promise<number> {
  const t = performance.now()
  const module = device.createShaderModule({ code })
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } })
  const data = device.createBuffer({ size: 4096, usage: BUFFER_USAGE.STORAGE })
  const enc = device.createCommandEncoder()
  const pass = enc.beginComputePass()
  pass.setPipeline(pipeline)
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: data } }] }))
  pass.dispatchWorkgroups(1)
  pass.end()
  device.queue.submit([enc.finish()])
  await device.queue.onSubmittedWorkDone()
  data.destroy()
  return performance.now() - t
}
await buildMs(handKernel(QUADRANT['in f32'], 4))
const handRows: string[][] = []
for (const steps of quick ? [150, 300] : [150, 300, 600, 1200]) {
  const row = [String(steps)]
  for (const q of Object.values(QUADRANT)) row.push((await buildMs(handKernel(q, steps))).toFixed(0))
  handRows.push(row)
  console.log(row.join('  '))
}
raw.destroy()

const m = SOFTWARE_COMPILE_MODEL
const md = `# Fused compile time and the compile model

Produced by \`npm run bench:compile\` (bench/compile-model.ts) on ${new Date().toISOString().slice(0, 10)}.

- Adapter: **${raw.description}**
- Host: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}
- Times are cold: \`npm run bench:compile\` disables Mesa's on-disk shader cache. This machine's timings drift by ±30%.

## One kernel per program, against the model

Each program compiled as one fused kernel (\`segmentCost: Infinity\`), with its Jacobian: "cost" is
plan.ts segmentCost summed over the kernel (a node costs 2 plus the operations of its WGSL,
helpers included: an add ${segmentCost('add')}, a tanh ${segmentCost('tanh')}, a sin ${segmentCost('sin')}), "accesses" the inputs and rows it moves.
The model, fitted by least squares (weighted to relative error) to this table on the software adapter:
ms = ${m.base} + ${m.perCost}·cost + ${m.perCost2}·cost² + ${m.perAccess2}·accesses².
Over these rows it is off by a geometric-mean factor of ${geo.toFixed(2)}, at worst ${worst.toFixed(2)}.

${markdown(['program', 'program nodes', 'cost', 'accesses', 'compile ms', 'model ms', 'measured / model'], modelRows)}

## Default plans: linear growth

Sin chains with the engine's default budget (${budget.toLocaleString('en-US')}: about 1 s per kernel by the model): one
kernel per segment, built one after another (\`kernel.ready\`).

${markdown(['chain nodes', 'program nodes', 'kernels', 'compile ms', 'ms per chain node', 'model ms'], segRows)}

## What made a sin chain quadratic

The sin/cos helper's body written by hand into chains of \`t = t + 0.00001·h(t + y)\`, compile ms
(pipeline creation and one dispatch). With the quadrant found by \`i32(q) & 3\`, as wg_sincos did,
compile time grows with the square of the number of calls; found in f32, it is about 2.5 times
shorter, and still grows faster than linearly (a kernel's size itself costs: the default plans
above bound it). perf put the conversion's cost in lavapipe's own code (libvulkan_lvp.so, walking
lists of instructions), not in LLVM.

${markdown(['sin/cos calls', ...Object.keys(QUADRANT).map((k) => `quadrant ${k}, ms`)], handRows)}
`
writeFileSync(new URL('./COMPILE.md', import.meta.url), md)
console.log('\nwrote bench/COMPILE.md')
process.exit(0)
