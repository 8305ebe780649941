/**
 * wavegrad in a browser page: createEngine() runs on navigator.gpu where the browser has WebGPU
 * (and on the CPU where it has not: the status line says which). The program's first output and
 * the length of its gradient in x and y are drawn as grey levels (log scale), one pixel a binding.
 *
 *   npx vite examples/browser        (then open the printed address)
 */
import { createEngine, parse, ParseError, type Graph } from 'wavegrad'

const SIDE = 256
const input = document.querySelector<HTMLInputElement>('#program')!
const status = document.querySelector<HTMLPreElement>('#status')!

// The grid: binding b is the pixel (b % SIDE, b / SIDE), x and y in [-2, 2], y growing upwards.
const x = new Float32Array(SIDE * SIDE).map((_, b) => -2 + (4 * (b % SIDE) + 2) / SIDE)
const y = new Float32Array(SIDE * SIDE).map((_, b) => 2 - (4 * Math.floor(b / SIDE) + 2) / SIDE)

const engine = await createEngine()
status.textContent = navigator.gpu ? 'WebGPU found' : 'no WebGPU in this browser: running on the CPU'

async function draw(): Promise<void> {
  let g: Graph
  try {
    g = parse(input.value)
  } catch (e) {
    status.textContent = e instanceof ParseError ? e.message : String(e)
    return
  }
  const unknown = g.inputs.filter((name) => name !== 'x' && name !== 'y')
  if (unknown.length) {
    status.textContent = `use x and y only (found ${unknown.join(', ')})`
    return
  }
  const t0 = performance.now()
  // An input the program does not read cannot be bound: give only those it has.
  const r = await engine.evaluate(g, Object.fromEntries(g.inputs.map((name) => [name, name === 'x' ? x : y])))
  const ms = performance.now() - t0
  const out = g.outputs[0]!
  const gradient = new Float32Array(SIDE * SIDE).map((_, b) => Math.hypot(r.jacobian[out]?.x?.[b] ?? 0, r.jacobian[out]?.y?.[b] ?? 0))
  paint('#value', r.values[out]!)
  paint('#gradient', gradient)
  status.textContent = `${out} and |∇${out}| at ${SIDE * SIDE} points in ${ms.toFixed(1)} ms on ${r.backend}`
}

/** Grey levels of log(1 + |v - min|), black to white; NaN red. */
function paint(selector: string, data: ArrayLike<number>): void {
  const canvas = document.querySelector<HTMLCanvasElement>(selector)!
  const context = canvas.getContext('2d')!
  const image = context.createImageData(SIDE, SIDE)
  let lo = Infinity
  let hi = -Infinity
  for (let b = 0; b < data.length; b++) if (Number.isFinite(data[b])) [lo, hi] = [Math.min(lo, data[b]!), Math.max(hi, data[b]!)]
  const scale = 255 / Math.log1p(hi - lo || 1)
  for (let b = 0; b < data.length; b++) {
    const v = data[b]!
    const level = Number.isFinite(v) ? Math.log1p(v - lo) * scale : -1
    image.data.set(level < 0 ? [220, 40, 40, 255] : [level, level, level, 255], 4 * b)
  }
  context.putImageData(image, 0, 0)
}

input.addEventListener('input', () => void draw())
await draw()
