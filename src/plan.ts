/**
 * plan: Levels -> how the GPU computes them. In: a levelized graph (and, at run time, the device's
 * limits and the batch size). Out: the kernels (wavefront ranges and their mode), the buffer
 * layout, and the batch tiling.
 *
 * Layout (structure of arrays, so neighbouring threads touch neighbouring words):
 *   inputs  : array<f32>, input k of binding b at  inputs[k * stride + b * steps[k]]
 *   steps   : array<u32>, 1 for an array input, 0 for a number broadcast to every binding
 *   results : array<f32>, row r of binding b at    results[r * stride + b], rows in this order:
 *             for each output o: its value, then ∂o/∂input for each input in graph.inputs order
 *   params  : uniform { n: bindings in this tile, stride: tile capacity, row: threads per grid row }
 * A batch larger than one tile runs as several tiles of `stride` bindings (the last one shorter).
 *
 * Invariants: one thread per binding; every row is written for every binding (zeros where an output
 * does not depend on an input), so reused buffers never leak stale numbers.
 */
import { requireOutputs } from './graph.js'
import type { Levels } from './levelize.js'

/** One row of the results buffer. */
export interface Row {
  readonly kind: 'value' | 'jacobian'
  readonly output: string
  /** The input this Jacobian row differentiates by (jacobian rows only). */
  readonly input?: string
}

/** One compute kernel: a range of wavefronts and how threads map to work. */
export interface KernelPlan {
  /** 'fused': one thread per binding runs straight-line forward and reverse code for the range. */
  readonly mode: 'fused'
  readonly firstLevel: number
  readonly lastLevel: number
  /** Live nodes in the range. */
  readonly nodes: number
}

export interface Plan {
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly rows: readonly Row[]
  readonly kernels: readonly KernelPlan[]
  readonly workgroupSize: number
  readonly depth: number
  readonly widest: number
  readonly liveCount: number
}

/**
 * Threads per workgroup: a multiple of every common SIMD width, within every device's limit (256).
 * On the software adapter 128 and 256 beat 64 by up to 1.5x on small kernels (fewer workgroups to
 * schedule); between 128 and 256 the difference was within noise.
 */
export const WORKGROUP_SIZE = 128

/**
 * Plans the GPU work for a levelized graph: one fused kernel over all wavefronts.
 *
 * @example
 * planKernels(levelize(parse('f = x*y'))).rows  // [value f, ∂f/∂x, ∂f/∂y]
 */
export function planKernels(levels: Levels): Plan {
  const { graph } = levels
  requireOutputs(graph)
  const inputs = graph.inputs
  const outputs = graph.outputs
  const rows: Row[] = []
  for (const output of outputs) {
    rows.push({ kind: 'value', output })
    for (const input of inputs) rows.push({ kind: 'jacobian', output, input })
  }
  return {
    inputs,
    outputs,
    rows,
    kernels: [{ mode: 'fused', firstLevel: 0, lastLevel: levels.depth, nodes: levels.liveCount }],
    workgroupSize: WORKGROUP_SIZE,
    depth: levels.depth,
    widest: levels.widest,
    liveCount: levels.liveCount,
  }
}

/** The device limits tiling depends on (a subset of GPUSupportedLimits). */
export interface TileLimits {
  readonly maxStorageBufferBindingSize: number
  readonly maxBufferSize: number
  readonly maxComputeWorkgroupsPerDimension: number
}

/**
 * Bindings per tile: as many as `size` asks, at most `cap`, and few enough that the inputs,
 * results and scratch (`scratchWords` per binding, e.g. the interpreter's registers) buffers each
 * fit one storage binding and one buffer.
 */
export function tileSize(plan: Plan, limits: TileLimits, size: number, cap: number, scratchWords = 0): number {
  const words = Math.max(plan.rows.length, plan.inputs.length, scratchWords, 1)
  const bytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize)
  const fit = Math.floor(bytes / (4 * words))
  const maxThreads = limits.maxComputeWorkgroupsPerDimension * limits.maxComputeWorkgroupsPerDimension * plan.workgroupSize
  const t = Math.min(Math.max(size, 1), cap, fit, maxThreads)
  if (t < 1) throw new RangeError(`one binding needs ${4 * words} bytes, more than one storage buffer binding holds (${bytes})`)
  return t
}

/** A 2-D dispatch covering n threads: maxComputeWorkgroupsPerDimension bounds each dimension. */
export function dispatchGrid(n: number, workgroupSize: number, maxPerDimension: number): { x: number; y: number; threadsPerRow: number } {
  const groups = Math.max(1, Math.ceil(n / workgroupSize))
  const x = Math.min(groups, maxPerDimension)
  const y = Math.ceil(groups / x)
  return { x, y, threadsPerRow: x * workgroupSize }
}

/** Index in plan.rows of output o's value row (no input), or of its ∂o/∂input row. */
export function rowIndex(plan: Plan, outputIndex: number, inputIndex?: number): number {
  return outputIndex * (1 + plan.inputs.length) + (inputIndex === undefined ? 0 : 1 + inputIndex)
}
