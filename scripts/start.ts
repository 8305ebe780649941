/**
 * npm start: the main job in a few seconds. Real programs, 2^20 input bindings each, values and full
 * Jacobians computed by WGSL kernels on whatever WebGPU adapter exists (the software one on a machine
 * without a GPU), every result verified against the float64 CPU reference, printed as a table. Then
 * the Black–Scholes Jacobian read as the Greeks at one binding, checked against their closed forms.
 */
import { compareResults, createGpuEngine, evaluateCpu, parse, Value, type GpuResults } from '../src/index.js'

const B = 1 << 20
/** GPU results must match the float64 reference within this scaled error (float32 arithmetic). */
const TOLERANCE = 1e-3

const BLACK_SCHOLES = [
  'd1 = (log(S/K) + (r + sigma^2/2)*T) / (sigma*sqrt(T))',
  'd2 = d1 - sigma*sqrt(T)',
  'call = S*(1 + erf(d1/sqrt(2)))/2 - K*exp(-r*T)*(1 + erf(d2/sqrt(2)))/2',
].join('\n')

const PROGRAMS: { name: string; source: string; ranges: Record<string, [number, number]> }[] = [
  { name: 'seed (notebook)', source: 'b = a*4; c = b+3; d = a+2; e = c*d', ranges: { a: [-5, 5] } },
  { name: 'Rosenbrock', source: 'f = (1-x)^2 + 100*(y-x^2)^2', ranges: { x: [-2, 2], y: [-1, 3] } },
  { name: 'Black–Scholes call', source: BLACK_SCHOLES, ranges: { S: [50, 150], K: [80, 120], r: [0, 0.08], sigma: [0.1, 0.6], T: [0.1, 2] } },
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

/** Binding 0 of the Black–Scholes batch: an at-the-money option whose Greeks are printed below. */
const OPTION = { S: 100, K: 100, r: 0.05, sigma: 0.2, T: 1 }

function random(lo: number, hi: number, n: number, seed: number): Float32Array<ArrayBuffer> {
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
console.log(`${B.toLocaleString('en-US')} bindings per program, values and the full Jacobian of every output; run ms = median of 3`)
console.log(`max error = scaled |gpu - float64 reference| over all bindings (compareResults); verified below ${TOLERANCE}\n`)
const header = ['program', 'inputs', 'nodes', 'compile ms', 'run ms', 'Mbindings/s', 'max error', 'verified']
const rows: string[][] = []
let allOk = true
let bs: GpuResults | undefined
for (const p of PROGRAMS) {
  const g = parse(p.source)
  const bindings = Object.fromEntries(g.inputs.map((name, i) => [name, random(...p.ranges[name]!, B, 17 + i)]))
  if (p.source === BLACK_SCHOLES) for (const [k, v] of Object.entries(OPTION)) bindings[k]![0] = v
  let t = performance.now()
  const kernel = engine.compile(g)
  await kernel.ready
  const compileMs = performance.now() - t
  let gpu = await kernel.run(bindings)
  const times: number[] = []
  for (let i = 0; i < 3; i++) {
    t = performance.now()
    gpu = await kernel.run(bindings)
    times.push(performance.now() - t)
  }
  const runMs = times.sort((x, y) => x - y)[1]!
  const { maxError } = compareResults(gpu, evaluateCpu(g, bindings))
  const ok = maxError < TOLERANCE
  allOk &&= ok
  if (p.source === BLACK_SCHOLES) bs = gpu
  rows.push([p.name, g.inputs.join(' '), String(kernel.plan.liveCount), compileMs.toFixed(0), runMs.toFixed(1), (B / runMs / 1e3).toFixed(1), maxError.toExponential(1), ok ? 'yes' : 'NO'])
}
engine.destroy()
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const fmt = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
console.log(fmt(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(fmt(r))

// The Greeks are the Jacobian of the call price: delta = dC/dS, vega = dC/dsigma, rho = dC/dr, and
// theta = -dC/dT (time passing shortens T). Closed forms, from N (normal CDF) and phi (its density).
const { S, K, r, sigma, T } = OPTION
const N = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2))
const phi = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI)
const d1 = (Math.log(S / K) + (r + sigma ** 2 / 2) * T) / (sigma * Math.sqrt(T))
const d2 = d1 - sigma * Math.sqrt(T)
const closed = {
  call: S * N(d1) - K * Math.exp(-r * T) * N(d2),
  delta: N(d1),
  vega: S * phi(d1) * Math.sqrt(T),
  theta: -(S * phi(d1) * sigma) / (2 * Math.sqrt(T)) - r * K * Math.exp(-r * T) * N(d2),
  rho: K * T * Math.exp(-r * T) * N(d2),
}
const j = bs!.jacobian.call!
const got = { call: bs!.values.call![0]!, delta: j.S![0]!, vega: j.sigma![0]!, theta: -j.T![0]!, rho: j.r![0]! }
console.log(`\nBlack–Scholes Greeks from the GPU Jacobian at S=${S}, K=${K}, r=${r}, sigma=${sigma}, T=${T} (binding 0 of the batch):`)
let greeksOk = true
for (const k of Object.keys(closed) as (keyof typeof closed)[]) {
  const rel = Math.abs(got[k] - closed[k]) / Math.max(1e-12, Math.abs(closed[k]))
  greeksOk &&= rel < TOLERANCE
  console.log(`  ${k.padEnd(6)} ${got[k].toFixed(5).padStart(10)}   closed form ${closed[k].toFixed(5).padStart(10)}   rel. error ${rel.toExponential(1)}`)
}
console.log('  gamma (d²C/dS²) is second order: wavegrad computes values and first derivatives (the Jacobian), so it is not shown.')
allOk &&= greeksOk

if (!allOk) {
  console.error('\nverification FAILED: GPU results differ from the float64 reference or the closed-form Greeks')
  process.exit(1)
}
console.log('\nall results verified against the float64 reference; Greeks match their closed forms')
process.exit(0)

/** erf (Abramowitz–Stegun 7.1.26 is too coarse here): series below 2.5, continued fraction above. */
function erf(x: number): number {
  const ax = Math.abs(x)
  if (ax < 2.5) {
    // erf x = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax
    let sum = ax
    for (let n = 1; n < 60; n++) {
      term *= (-ax * ax) / n
      sum += term / (2 * n + 1)
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI))
  }
  // erfc x = exp(-x²)/sqrt(pi) · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated bottom-up
  let f = ax
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f)
}
