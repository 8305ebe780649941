/**
 * npx tsx bench/second-order.ts: Hessian-vector products vs full Hessians on the GPU engine, at
 * B = 2^16 bindings, for a coupled test function of n = 4, 8, 16 inputs. Three ways to the second
 * order, each an ordinary graph the engine runs (src/transform.ts):
 *   - HVP, forward over reverse: hvpGraph's values, evaluated values-only ({ jacobian: false }: no
 *     reverse sweep of its own, n rows);
 *   - HVP, reverse over forward: the engine's Jacobian of the JVP graph (one reverse sweep, 2n rows);
 *   - full Hessian: the engine's Jacobian of the gradient graph (n² rows).
 * Reports compile time, run time (median of 3, after a warm-up), bindings per second, rows read back
 * per binding, and the max scaled error against the f64 reference on the first 256 bindings.
 * Writes bench/SECOND_ORDER.md. Not a test: nothing here asserts a time.
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { createGpuEngine, Graph, levelize, type Expr } from '../src/index.js'
import { gradientGraph, hessian, hvp, hvpGraph, jvpGraph, referenceEngine } from '../src/transform.js'
import { benchInputs } from './graphs.js'

const B = 1 << 16
const SIZES = (process.env.BENCH_SIZES ?? '4,8,16').split(',').map(Number)
const CHECK = 256

/** f(x) = log(1 + Σ (x_i - x_{i+1})²) + Σ sin(x_i)·x_{i+1} + Σ tanh(x_i·x_{i+2}): every input coupled to its neighbours. */
function testFunction(n: number): Graph {
  const g = new Graph()
  const x: Expr[] = Array.from({ length: n }, (_, i) => g.input(`x${i}`))
  const at = (i: number) => x[i % n]!
  let squares: Expr | number = 0
  let rest: Expr | number = 0
  for (let i = 0; i < n; i++) {
    const d = at(i).sub(at(i + 1))
    squares = d.mul(d).add(squares)
    rest = at(i).sin().mul(at(i + 1)).add(at(i).mul(at(i + 2)).tanh()).add(rest)
  }
  g.output('f', (squares as Expr).log1p().add(rest))
  return g
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

function random(seed: number, size: number, lo: number, hi: number): Float32Array {
  return benchInputs([''], size, seed, lo, hi)[0]!
}

/** Max scaled error of rows against f64 rows (as compareResults: relative, absolute near 0). */
function scaledError(got: ArrayLike<number>[], want: ArrayLike<number>[]): number {
  let worst = 0
  got.forEach((g, r) => {
    const w = want[r]!
    let peak = 0
    for (let i = 0; i < w.length; i++) peak = Math.max(peak, Math.abs(w[i]!))
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / (Math.abs(w[i]!) + 1e-2 * peak + 1e-6))
  })
  return worst
}

const engine = await createGpuEngine()
console.log(`adapter: ${engine.description}`)
const table: string[][] = []
for (const n of SIZES) {
  const g = testFunction(n)
  const names = g.inputs
  const bindings = Object.fromEntries(names.map((name, i) => [name, random(17 + i, B, -1, 1)]))
  const vectors = Object.fromEntries(names.map((name, i) => [name, random(101 + i, B, -1, 1)]))
  const slice = (o: Record<string, Float32Array>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Float64Array.from(v.subarray(0, CHECK))]))
  const H64 = await hessian(g, referenceEngine(), slice(bindings))
  const v64 = slice(vectors)
  const Hv64 = names.map((i) => new Float64Array(CHECK).map((_, b) => names.reduce((s, j) => s + H64.f![i]![j]![b]! * v64[j]![b]!, 0)))

  const methods = [
    {
      name: 'HVP, forward over reverse',
      graph: hvpGraph(g),
      valuesOnly: true,
      run: async () => (await hvp(g, engine, bindings, vectors, { method: 'forward-over-reverse' })).hvp.f!,
      rows: (r: Record<string, ArrayLike<number>>) => scaledError(names.map((i) => r[i]!), Hv64),
    },
    {
      name: 'HVP, reverse over forward',
      graph: jvpGraph(g, { values: false }),
      valuesOnly: false,
      run: async () => (await hvp(g, engine, bindings, vectors, { method: 'reverse-over-forward' })).hvp.f!,
      rows: (r: Record<string, ArrayLike<number>>) => scaledError(names.map((i) => r[i]!), Hv64),
    },
    {
      name: 'full Hessian',
      graph: gradientGraph(g),
      valuesOnly: false,
      run: async () => (await hessian(g, engine, bindings)).f!,
      rows: (r: Record<string, Record<string, ArrayLike<number>>>) =>
        scaledError(
          names.flatMap((i) => names.map((j) => r[i]![j]!)),
          names.flatMap((i) => names.map((j) => H64.f![i]![j]!)),
        ),
    },
  ] as const
  for (const m of methods) {
    const t0 = performance.now()
    await engine.compile(m.graph, { jacobian: !m.valuesOnly }).ready
    const compileMs = performance.now() - t0
    const first = await m.run()
    const err = (m.rows as (r: typeof first) => number)(first)
    const ts: number[] = []
    for (let k = 0; k < 3; k++) {
      const t = performance.now()
      await m.run()
      ts.push(performance.now() - t)
    }
    const ms = median(ts)
    const rows = m.graph.outputs.length * (m.valuesOnly ? 1 : 1 + m.graph.inputs.length)
    const row = [String(n), m.name, String(levelize(m.graph).liveCount), String(rows), compileMs.toFixed(0), ms.toFixed(1), (B / ms / 1e3).toFixed(3), err.toExponential(1)]
    console.log(row.join(' | '))
    table.push(row)
  }
}
engine.destroy()

const header = ['n', 'method', 'nodes', 'rows/binding', 'compile ms', 'run ms', 'Mbind/s', 'max err vs f64']
const md = `# Second order: HVP vs full Hessian

\`npx tsx bench/second-order.ts\` — B = 2^16 bindings, one GPU engine (\`createGpuEngine()\`, fused tier).

- Adapter: **${engine.description}**
- Host: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}
- Function of n inputs: f(x) = log(1 + Σ (x_i − x_{i+1})²) + Σ sin(x_i)·x_{i+1} + Σ tanh(x_i·x_{i+2}) (indices mod n).
- nodes: live nodes of the graph the engine runs; rows/binding: values + Jacobian rows it computes and
  reads back per binding; compile ms: building the fused pipeline(s); run ms: one call (upload, compute,
  readback), median of 3 after a warm-up; max err: largest scaled error (as \`compareResults\`) of
  (H·v) or H on the first ${CHECK} bindings against the float64 reference's Hessian.
- HVP forward over reverse reads \`hvpGraph\`'s values, evaluated values-only (\`{ jacobian: false }\`:
  n rows, no reverse sweep of its own; \`hvp\`'s default); reverse over forward reads the engine's Jacobian of the
  JVP graph (one reverse sweep: 2n rows); the full Hessian is the engine's Jacobian of the gradient
  graph (n + n² rows).
- Compile times on a software adapter vary with machine load and with where the planner cuts a big
  kernel into segments (plan.ts), so they do not grow smoothly with n; Mesa's shader disk cache makes a
  second run's compiles far faster (this run: ${process.env.MESA_SHADER_CACHE_DISABLE ? 'cache disabled, cold compiles' : 'cache enabled, compiles may be warm'}).

| ${header.join(' | ')} |
|${header.map(() => '---').join('|')}|
${table.map((r) => `| ${r.join(' | ')} |`).join('\n')}
`
writeFileSync(new URL('./SECOND_ORDER.md', import.meta.url), md)
console.log('wrote bench/SECOND_ORDER.md')
