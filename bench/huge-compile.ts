/**
 * Segmented fused compile of big graphs: `engine.compile` until `kernel.ready`, cold, one engine per
 * row, for each segment budget asked (COST_BUDGET by default). Checked against the float32-faithful
 * reference on 256 bindings. Prints a markdown table, row by row; asserts nothing.
 *
 *   tsx bench/huge-compile.ts 10000 100000:8192,2048     (NODES[:BUDGET,BUDGET...] ...)
 *
 * Too slow for a software adapter beyond ~10^4 nodes (see bench/RESULTS.md, "Segments"); meant for
 * a real GPU (scripts/gpu-check.sh). "kernels" counts the plan that was built: a driver that cannot
 * build a segment that big gets the graph cut finer (engine.compile), which the compile time includes.
 */
import { compareResults, COST_BUDGET, createGpuEngine, evaluateCpu, levelize } from '../src/index.js'
import { benchGraph, benchInputs } from './graphs.js'

const runs = process.argv.slice(2).map((arg) => {
  const [nodes, budgets] = arg.split(':')
  return { size: Number(nodes), budgets: budgets ? budgets.split(',').map(Number) : [COST_BUDGET] }
})
if (runs.length === 0 || runs.some((r) => !Number.isInteger(r.size) || r.size < 1 || r.budgets.some((b) => !(b >= 1)))) {
  console.error('usage: tsx bench/huge-compile.ts NODES[:BUDGET,BUDGET...] ...')
  process.exit(2)
}
const B = 1 << 16
const CHECK = 256

function inputs(names: readonly string[], size: number, seed: number): Record<string, Float32Array> {
  const arrays = benchInputs(names, size, seed, -1, 1)
  return Object.fromEntries(names.map((n, i) => [n, arrays[i]!]))
}

console.log('| nodes | budget | segments | kernels | scratch words/binding | compile ms | GPU ms (B = 2^16) | max err |')
console.log('|---|---|---|---|---|---|---|---|')
for (const { size, budgets } of runs) {
  const g = benchGraph(size, 5)
  const check = inputs(g.inputs, CHECK, 7)
  const ref = evaluateCpu(g, check, { precision: 'f32' })
  const bindings = inputs(g.inputs, B, 11)
  for (const budget of budgets) {
    const engine = await createGpuEngine({ segmentCost: budget, tier: 'fused' })
    const t = performance.now()
    const kernel = engine.compile(g)
    await kernel.ready
    const compileMs = performance.now() - t
    await kernel.run(bindings)
    const t1 = performance.now()
    await kernel.run(bindings)
    const runMs = performance.now() - t1
    const err = compareResults(await kernel.run(check), ref).maxError
    const cells = [levelize(g).liveCount, budget, kernel.plan.kernels.length, kernel.sources.length, kernel.plan.scratch?.rows ?? 0, compileMs.toFixed(0), runMs.toFixed(1), err.toExponential(1)]
    console.log(`| ${cells.join(' | ')} |`)
    engine.destroy()
  }
}
