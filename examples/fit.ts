/**
 * Fits y = a · sin(b · x) + c to 2^20 noisy points by gradient descent, entirely on the GPU: the
 * data is uploaded once into GPU buffers; each iteration binds the three parameters as numbers,
 * and reads back only the batch sums (the mean loss and its gradient), computed by a deterministic
 * reduction on the GPU (partial sums in a fixed order). One progress line per iteration.
 *
 *   npm run example:fit            (ITERATIONS=n to change the 40 iterations)
 */
import { BUFFER_USAGE, createGpuEngine, Graph } from '../src/index.js'
import { mulberry32 } from '../src/util/random.js'

const N = 1 << 20
const TRUE = { a: 1.5, b: 2.0, c: -0.3 }
const ITERATIONS = Number(process.env.ITERATIONS ?? 40)

// The model and its mean squared error; a, b, c are parameters: one value for the whole batch.
const g = new Graph()
const x = g.input('x')
const y = g.input('y')
const [a, b, c] = (['a', 'b', 'c'] as const).map((p) => g.param(p)) as [ReturnType<Graph['param']>, ReturnType<Graph['param']>, ReturnType<Graph['param']>]
g.output('loss', a.mul(b.mul(x).sin()).add(c).sub(y).pow(2).mul(1 / N))

// Data: x in [-2, 2], y = model(x) + noise.
const r = mulberry32(7)
const xs = new Float32Array(N)
const ys = new Float32Array(N)
for (let i = 0; i < N; i++) {
  xs[i] = -2 + 4 * r()
  ys[i] = TRUE.a * Math.sin(TRUE.b * xs[i]!) + TRUE.c + 0.05 * (r() - 0.5)
}

const engine = await createGpuEngine()
const upload = (data: Float32Array<ArrayBuffer>) => {
  const buffer = engine.device.createBuffer({ size: data.byteLength, usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST })
  engine.device.queue.writeBuffer(buffer, 0, data)
  return { buffer, length: data.length }
}
const gx = upload(xs)
const gy = upload(ys)
const kernel = engine.compile(g)
await kernel.ready

console.log(`fitting y = a·sin(b·x) + c to ${N.toLocaleString('en-US')} points on ${engine.description}`)
let p = { a: 1.0, b: 1.8, c: 0.0 }
const rate = 0.4
const t0 = performance.now()
let loss = Infinity
for (let it = 1; it <= ITERATIONS; it++) {
  const t = performance.now()
  const step = await kernel.run({ x: gx, y: gy, ...p }, { sumsOnly: true })
  loss = step.totals!.loss!
  const grad = step.gradients!.loss!
  p = { a: p.a - rate * grad.a!, b: p.b - rate * grad.b!, c: p.c - rate * grad.c! }
  console.log(
    `iter ${String(it).padStart(3)}  loss ${loss.toExponential(4)}  a ${p.a.toFixed(5)}  b ${p.b.toFixed(5)}  c ${p.c.toFixed(5)}  ` +
      `|grad| ${Math.hypot(grad.a!, grad.b!, grad.c!).toExponential(2)}  ${(performance.now() - t).toFixed(1)} ms`,
  )
}
console.log(`${ITERATIONS} iterations in ${((performance.now() - t0) / 1000).toFixed(2)} s; true a ${TRUE.a}, b ${TRUE.b}, c ${TRUE.c}`)
gx.buffer.destroy()
gy.buffer.destroy()
engine.destroy()
if (!(loss < 1e-2)) {
  console.error(`the fit did not converge (loss ${loss})`)
  process.exit(1)
}
