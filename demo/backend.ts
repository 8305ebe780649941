/**
 * What the page asks of a backend (WebGPU, or the CPU fallback): evaluate the first output of a
 * program and its gradient over a grid covering a view, then draw it. Evaluation and drawing are
 * separate so that toggling contours or arrows redraws without evaluating again.
 *
 * Grid: side n, binding b = j·n + i holds the cell centre x = x0 + (i + ½)·(x1 − x0)/n,
 * y = y0 + (j + ½)·(y1 − y0)/n (row j = 0 at the bottom of the picture).
 */
import type { Graph } from 'wavegrad'
import type { View } from './examples.js'
import type { Shading } from './shading.js'

/** One evaluation request: the parsed program, its parameter values, the view. */
export interface Job {
  readonly source: string
  readonly graph: Graph
  readonly params: Readonly<Record<string, number>>
  readonly view: View
  /** Fires when the page no longer wants this job (a new program was typed): its compile and run stop. */
  readonly signal?: AbortSignal
}

/** Whether an error is a stopped job's (an AbortSignal's reason): the page drops it quietly. */
export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError'
}

/** What the page reports about the last evaluation (also `demo.lastEvaluation`). */
export interface Evaluation {
  /** Milliseconds of the evaluation itself (GPU: the run call until the queue is idle). */
  readonly ms: number
  readonly bindings: number
  readonly backend: string
  /** Largest scaled error of the GPU against the float64 reference on a sample; null on the CPU. */
  readonly maxError: number | null
  /** Where that error was (compareResults' `where`). */
  readonly where: string
}

/** A way to evaluate and draw: WebGPU (gpu-backend.ts) or the CPU reference (cpu-fallback.ts). */
export interface Backend {
  /** Names the adapter (or the CPU fallback) for the page. */
  readonly label: string
  /** Grid side. */
  readonly size: number
  evaluate(job: Job): Promise<Evaluation>
  /** Draws the last evaluation (nothing before the first). */
  render(shading: Shading): Promise<void>
}

/** The grid's cell centres along x and y (the same numbers on every backend). */
export function gridAxes(view: View, n: number): { xs: Float64Array; ys: Float64Array } {
  const xs = new Float64Array(n)
  const ys = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    xs[i] = Math.fround(view.x0 + ((i + 0.5) * (view.x1 - view.x0)) / n)
    ys[i] = Math.fround(view.y0 + ((i + 0.5) * (view.y1 - view.y0)) / n)
  }
  return { xs, ys }
}

/** Input names of a graph other than x and y: the slider parameters. */
export function parameterNames(graph: Graph): string[] {
  return graph.inputs.filter((name) => name !== 'x' && name !== 'y')
}

/**
 * Bindings of the graph's inputs for the given binding indices of the grid (x, y from the grid,
 * every parameter filled with its value), as float32-exact Float64Arrays.
 */
export function sampleBindings(job: Job, n: number, indices: ArrayLike<number>): Record<string, Float64Array> {
  const { xs, ys } = gridAxes(job.view, n)
  const out: Record<string, Float64Array> = {}
  for (const name of job.graph.inputs) {
    const a = new Float64Array(indices.length)
    for (let k = 0; k < indices.length; k++) {
      const b = indices[k]!
      a[k] = name === 'x' ? xs[b % n]! : name === 'y' ? ys[Math.floor(b / n)]! : Math.fround(job.params[name] ?? 0)
    }
    out[name] = a
  }
  return out
}
