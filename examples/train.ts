/**
 * Training with parameters: fits y = a·sin(b·x) + c to noisy points by gradient descent. a, b and
 * c are parameters (one value for the whole batch): each step returns the mean loss's gradient with
 * respect to them, summed over the batch by the engine, and the points never change.
 *
 *   npx tsx node_modules/wavegrad/examples/train.ts [points] [steps]     (in this repository: npm run example:train)
 */
import { fn } from 'wavegrad'

const n = Number(process.argv[2] ?? 1 << 18)
const steps = Number(process.argv[3] ?? 40)
const truth = { a: 1.5, b: 2, c: -0.3 }

// Data: x in [-2, 2], y = a·sin(b·x) + c plus a little noise (a seeded generator: the same every run).
let seed = 7
const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32)
const x = new Float32Array(n).map(() => -2 + 4 * random())
const y = x.map((xi) => truth.a * Math.sin(truth.b * xi) + truth.c + 0.05 * (random() - 0.5))

// The model's squared error at one point; weights 1/n below make the batch sum the mean.
const model = fn({ inputs: ['x', 'y'], params: ['a', 'b', 'c'] }, (x, y, a, b, c) => ({
  loss: a.mul(b.mul(x).sin()).add(c).sub(y).pow(2),
}))
const weights = new Float32Array(n).fill(1 / n)

let p = { a: 1, b: 1.8, c: 0 }
const rate = 0.4
let loss = Infinity
const t0 = performance.now()
for (let step = 1; step <= steps; step++) {
  const r = await model.valueAndJacobian({ x, y, ...p }, { weights })
  const g = r.gradients!.loss // ∂(mean loss)/∂a, ∂b, ∂c
  loss = r.values.loss.reduce((s, v) => s + v, 0) / n
  p = { a: p.a - rate * g.a, b: p.b - rate * g.b, c: p.c - rate * g.c }
  if (step % 10 === 0 || step === 1) console.log(`step ${String(step).padStart(3)}  loss ${loss.toExponential(3)}  a ${p.a.toFixed(4)}  b ${p.b.toFixed(4)}  c ${p.c.toFixed(4)}  (${r.backend})`)
}
console.log(`${steps} steps on ${n} points in ${((performance.now() - t0) / 1000).toFixed(2)} s`)
console.log(`fitted a ${p.a.toFixed(3)}, b ${p.b.toFixed(3)}, c ${p.c.toFixed(3)}; true a ${truth.a}, b ${truth.b}, c ${truth.c}`)
if (!(loss < 1e-2)) {
  console.error(`the fit did not converge (mean loss ${loss})`)
  process.exit(1)
}
