/**
 * npm start: the main job in a few seconds. Real programs, 2^20 input bindings each, values and full
 * Jacobians computed by WGSL kernels on whatever WebGPU adapter exists (the software one on a machine
 * without a GPU), every result verified against the float64 CPU reference, printed as a table.
 */
import { compareResults, createGpuEngine, evaluateCpu, parse, Value } from '../src/index.js'

const B = 1 << 20

const PROGRAMS: { name: string; source: string; ranges: Record<string, [number, number]> }[] = [
  { name: 'seed (notebook)', source: 'b = a*4; c = b+3; d = a+2; e = c*d', ranges: { a: [-5, 5] } },
  { name: 'Rosenbrock', source: 'f = (1-x)^2 + 100*(y-x^2)^2', ranges: { x: [-2, 2], y: [-1, 3] } },
  {
    name: 'Black–Scholes call',
    source: [
      'd1 = (log(S/K) + (r + sigma^2/2)*T) / (sigma*sqrt(T))',
      'd2 = d1 - sigma*sqrt(T)',
      'call = S*(1 + erf(d1/sqrt(2)))/2 - K*exp(-r*T)*(1 + erf(d2/sqrt(2)))/2',
    ].join('\n'),
    ranges: { S: [50, 150], K: [80, 120], r: [0, 0.08], sigma: [0.1, 0.6], T: [0.1, 2] },
  },
  {
    name: 'tanh network 2-4-1',
    source: [
      'h1 = tanh(0.5*x - 1.2*y + 0.1)', 'h2 = tanh(-0.7*x + 0.3*y - 0.4)',
      'h3 = tanh(1.1*x + 0.9*y + 0.2)', 'h4 = tanh(-0.2*x - 1.5*y + 0.6)',
      'out = sigmoid(0.8*h1 - 1.1*h2 + 0.5*h3 + 1.3*h4 - 0.1)',
    ].join('\n'),
    ranges: { x: [-3, 3], y: [-3, 3] },
  },
]

function random(lo: number, hi: number, n: number, seed: number): Float32Array {
  let s = seed >>> 0
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    a[i] = lo + ((hi - lo) * s) / 4294967296
  }
  return a
}

const a = new Value(3)
const e = a.mul(4).add(3).mul(a.add(2))
e.backward()
console.log(`seed example, eager Value: e = (a*4 + 3)*(a + 2) at a = 3 -> e = ${e.data}, de/da = ${a.grad}\n`)

const engine = await createGpuEngine()
console.log(`adapter: ${engine.description}`)
console.log(`${B.toLocaleString('en-US')} bindings per program; max error = scaled |gpu - f64 reference| (see compareResults)\n`)
const header = ['program', 'nodes', 'compile ms', 'run ms', 'Mbindings/s', 'max error', 'verified']
const rows: string[][] = []
let allOk = true
for (const p of PROGRAMS) {
  const g = parse(p.source)
  const bindings = Object.fromEntries(g.inputs.map((name, i) => [name, random(...p.ranges[name]!, B, 17 + i)]))
  let t = performance.now()
  const kernel = engine.compile(g)
  await kernel.ready
  const compileMs = performance.now() - t
  await kernel.run(bindings)
  t = performance.now()
  const gpu = await kernel.run(bindings)
  const runMs = performance.now() - t
  const { maxError } = compareResults(gpu, evaluateCpu(g, bindings))
  const ok = maxError < 1e-3
  allOk &&= ok
  rows.push([p.name, String(kernel.plan.liveCount), compileMs.toFixed(0), runMs.toFixed(1), (B / runMs / 1e3).toFixed(1), maxError.toExponential(1), ok ? 'yes' : 'NO'])
}
engine.destroy()
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
console.log(fmt(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(fmt(r))
if (!allOk) {
  console.error('\nverification FAILED: GPU results differ from the float64 reference')
  process.exit(1)
}
console.log('\nall results verified against the float64 reference')
process.exit(0)
