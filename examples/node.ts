/**
 * Quick start in Node: the value and both partial derivatives of Rosenbrock's function at a million
 * points, on the default engine (the GPU through Dawn, or the CPU, whichever it predicts is faster),
 * checked at a sample of points against the float64 reference and against hand math.
 *
 *   npx tsx node_modules/wavegrad/examples/node.ts [points]     (in this repository: npm run example:node)
 */
import { defaultEngine, evaluateCpu, fn } from 'wavegrad'

const n = Number(process.argv[2] ?? 1 << 20)

// f(x, y) = (1 - x)² + 100 (y - x²)²; x and y stand for every point at once.
const f = fn(['x', 'y'], (x, y) => x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)))

// A grid of n points: x from -2 to 2, y from -1 to 3.
const side = Math.ceil(Math.sqrt(n))
const x = new Float32Array(n).map((_, i) => -2 + (4 * (i % side)) / side)
const y = new Float32Array(n).map((_, i) => -1 + (4 * Math.floor(i / side)) / side)

// The engine f runs on when none is given: made once (it measures this machine, well under a second).
let t0 = performance.now()
await defaultEngine()
console.log(`default engine ready in ${(performance.now() - t0).toFixed(0)} ms`)

t0 = performance.now()
let r = await f.valueAndJacobian({ x, y })
console.log(`${n} points in ${(performance.now() - t0).toFixed(0)} ms (first run of this function) on ${r.backend}`)
t0 = performance.now()
r = await f.valueAndJacobian({ x, y })
console.log(`${n} points in ${(performance.now() - t0).toFixed(0)} ms (again) on ${r.backend}`)

// Hand math: ∂f/∂x = -2(1 - x) - 400x(y - x²), ∂f/∂y = 200(y - x²).
const sample = Array.from({ length: 64 }, (_, k) => Math.floor((k * n) / 64))
const ref = evaluateCpu(f.graph, { x: sample.map((i) => x[i]!), y: sample.map((i) => y[i]!) })
let worst = 0
sample.forEach((i, k) => {
  const [xi, yi] = [x[i]!, y[i]!]
  const want = [(1 - xi) ** 2 + 100 * (yi - xi * xi) ** 2, -2 * (1 - xi) - 400 * xi * (yi - xi * xi), 200 * (yi - xi * xi)]
  const got = [r.values.out[i]!, r.jacobian.out.x[i]!, r.jacobian.out.y[i]!]
  const f64 = [ref.values.out[k]!, ref.jacobian.out.x[k]!, ref.jacobian.out.y[k]!]
  want.forEach((w, j) => (worst = Math.max(worst, Math.abs(got[j]! - w) / Math.max(1, Math.abs(w)), Math.abs(f64[j]! - w) / Math.max(1, Math.abs(w)))))
})
const i = sample[17]!
console.log(`f(${x[i]}, ${y[i]}) = ${r.values.out[i]}  ∂f/∂x = ${r.jacobian.out.x[i]}  ∂f/∂y = ${r.jacobian.out.y[i]}`)
console.log(`largest scaled error against hand math at ${sample.length} points: ${worst.toExponential(2)}`)
if (!(worst < 1e-4)) {
  console.error('results disagree with the hand-derived derivatives')
  process.exit(1)
}
