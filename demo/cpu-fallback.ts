/**
 * The CPU fallback, for browsers without WebGPU. In: a job. Out: the first output and its
 * gradient on a 256 × 256 grid from wavegrad's float64 reference engine (`evaluateCpu`), drawn with
 * canvas 2D: the same heatmap, contours (shading.ts) and arrows as the WebGPU renderer.
 */
import { evaluateCpu } from 'wavegrad'
import { sampleBindings, type Backend, type Evaluation, type Job } from './backend.js'
import type { View } from './examples.js'
import { CONTOUR_LEVELS, CONTOUR_RGB, contourAlpha, robustRange, softness, transform, viridis, type Shading } from './shading.js'

/** The label the page shows for this backend. */
export const CPU_LABEL = 'CPU (float64 reference) — no WebGPU'
const GRID = 256
const ARROW_LATTICE = 24

interface Field {
  readonly values: Float64Array
  readonly dx: Float64Array | undefined
  readonly dy: Float64Array | undefined
  readonly view: View
}

/**
 * The CPU backend on a canvas (which must not have handed out a WebGPU context).
 *
 * @example
 * const backend = createCpuBackend(canvas); await backend.evaluate(job); await backend.render(shading)
 */
export function createCpuBackend(canvas: HTMLCanvasElement): Backend {
  const context = canvas.getContext('2d')
  if (!context) throw new Error('the canvas has no 2D context')
  let last: Field | undefined
  return {
    label: CPU_LABEL,
    size: GRID,
    async evaluate(job: Job): Promise<Evaluation> {
      const all = Array.from({ length: GRID * GRID }, (_, b) => b)
      const bindings = sampleBindings(job, GRID, all)
      const t0 = performance.now()
      const r = evaluateCpu(job.graph, bindings)
      const ms = performance.now() - t0
      const out = job.graph.outputs[0]!
      last = { values: r.values[out]!, dx: r.jacobian[out]!['x'], dy: r.jacobian[out]!['y'], view: job.view }
      return { ms, bindings: GRID * GRID, backend: CPU_LABEL, maxError: null, where: 'the reference itself' }
    },
    async render(shading: Shading): Promise<void> {
      if (!last) return
      drawField(context, last, shading)
      if (shading.arrows) drawArrows(context, last)
    },
  }
}

/** Heatmap and contours per canvas pixel, f interpolated bilinearly between cell centres. */
function drawField(ctx: CanvasRenderingContext2D, field: Field, shading: Shading): void {
  const size = ctx.canvas.width
  const [lo, hi] = robustRange(field.values.slice())
  const s = softness(lo, hi)
  const tLo = transform(lo, shading.logScale, s)
  const span = transform(hi, shading.logScale, s) - tLo
  const u = new Float64Array(size * size)
  for (let py = 0; py < size; py++) {
    const gy = clampGrid((1 - (py + 0.5) / size) * GRID - 0.5)
    for (let px = 0; px < size; px++) {
      const f = bilinear(field.values, clampGrid(((px + 0.5) / size) * GRID - 0.5), gy)
      const t = span > 0 ? (transform(f, shading.logScale, s) - tLo) / span : 0.5
      u[py * size + px] = t * CONTOUR_LEVELS
    }
  }
  const image = ctx.createImageData(size, size)
  const rgba = image.data
  for (let p = 0; p < size * size; p++) {
    const up = u[p]!
    let rgb: [number, number, number] = [140, 140, 140]
    if (Number.isFinite(up)) {
      rgb = viridis(Math.min(1, Math.max(0, up / CONTOUR_LEVELS)))
      if (shading.contours) {
        // fwidth: the level change to the next pixel right and down.
        const right = u[p % size < size - 1 ? p + 1 : p - 1]!
        const down = u[p < size * (size - 1) ? p + size : p - size]!
        const a = contourAlpha(up, Math.abs(right - up) + Math.abs(down - up))
        rgb = [0, 1, 2].map((c) => rgb[c]! + (CONTOUR_RGB[c]! - rgb[c]!) * a) as [number, number, number]
      }
    }
    rgba.set([rgb[0], rgb[1], rgb[2], 255], 4 * p)
  }
  ctx.putImageData(image, 0, 0)
}

/** Gradient arrows on a coarse lattice, length m / (m + median m) of a cell, white on black. */
function drawArrows(ctx: CanvasRenderingContext2D, field: Field): void {
  const size = ctx.canvas.width
  const width = field.view.x1 - field.view.x0
  const height = field.view.y1 - field.view.y0
  const gradient = (b: number): [number, number] => [(field.dx?.[b] ?? 0) * width, (field.dy?.[b] ?? 0) * height]
  const magnitudes = new Float64Array(GRID * GRID).map((_, b) => Math.hypot(...gradient(b)))
  const ref = Math.max(robustMedian(magnitudes), 1e-30)
  const cell = size / ARROW_LATTICE
  for (const [stroke, lineWidth] of [['rgba(0,0,0,0.6)', 3.6], ['rgba(255,255,255,0.95)', 1.6]] as const) {
    ctx.strokeStyle = stroke
    ctx.fillStyle = stroke
    ctx.lineWidth = lineWidth
    for (let a = 0; a < ARROW_LATTICE; a++) {
      for (let b = 0; b < ARROW_LATTICE; b++) {
        const cu = (a + 0.5) / ARROW_LATTICE
        const cv = (b + 0.5) / ARROW_LATTICE
        const at = Math.floor(cv * GRID) * GRID + Math.floor(cu * GRID)
        const [gu, gv] = gradient(at)
        const m = Math.hypot(gu, gv)
        // As on the GPU: no arrow where f itself is undefined.
        if (!(m > 0) || !Number.isFinite(m) || !Number.isFinite(field.values[at])) continue
        // Canvas y grows downwards: flip the v component.
        const dir = [gu / m, -gv / m] as const
        const len = (cell * 0.9 * m) / (m + ref)
        const [x, y] = [cu * size, (1 - cv) * size]
        const tip = [x + (dir[0] * len) / 2, y + (dir[1] * len) / 2] as const
        const neck = [tip[0] - dir[0] * 0.4 * len, tip[1] - dir[1] * 0.4 * len] as const
        const wing = 0.22 * len + lineWidth / 2
        ctx.beginPath()
        ctx.moveTo(x - (dir[0] * len) / 2, y - (dir[1] * len) / 2)
        ctx.lineTo(neck[0], neck[1])
        ctx.stroke()
        ctx.beginPath()
        ctx.moveTo(tip[0], tip[1])
        ctx.lineTo(neck[0] - dir[1] * wing, neck[1] + dir[0] * wing)
        ctx.lineTo(neck[0] + dir[1] * wing, neck[1] - dir[0] * wing)
        ctx.closePath()
        ctx.fill()
      }
    }
  }
}

function robustMedian(a: Float64Array): number {
  const finite = a.filter(Number.isFinite).sort()
  return finite.length ? finite[Math.floor(finite.length / 2)]! : 1
}

function clampGrid(g: number): number {
  return Math.min(GRID - 1, Math.max(0, g))
}

function bilinear(values: Float64Array, gx: number, gy: number): number {
  const i0 = Math.floor(gx)
  const j0 = Math.floor(gy)
  const i1 = Math.min(i0 + 1, GRID - 1)
  const j1 = Math.min(j0 + 1, GRID - 1)
  const wx = gx - i0
  const wy = gy - j0
  const at = (i: number, j: number) => values[j * GRID + i]!
  const bottom = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * wx
  const top = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * wx
  return bottom + (top - bottom) * wy
}
