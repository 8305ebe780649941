/**
 * plan: Levels -> how the GPU computes them. In: a levelized graph (and, at run time, the device's
 * limits and the batch size). Out: the kernels (wavefront ranges and their mode), the buffer
 * layout, and the batch tiling.
 *
 * Segments: a graph whose cost (COST_BUDGET, counted by segmentCost) exceeds the budget is cut into
 * consecutive ranges of `order` (whole wavefronts where possible), one kernel each, because a
 * software adapter's compile time grows super-linearly with kernel size. Values that cross a cut
 * (an op node consumed by a later segment) live in a scratch buffer, and only those; the reverse
 * sweep runs the segments backwards, each recomputing its own forward values from its inputs and
 * the scratch (checkpointing), and passes partial adjoints of earlier nodes back through the
 * scratch. A values-only plan's segments run forward only, each writing its outputs' value rows.
 * See scratchLayout.
 *
 * Layout (structure of arrays, so neighbouring threads touch neighbouring words):
 *   inputs  : array<f32>, input k of binding b at  inputs[k * stride + b * steps[k]]
 *   steps   : array<u32>, 1 for an array input, 0 for a number broadcast to every binding
 *   results : array<f32>, row r of binding b at    results[r * stride + b], rows in this order:
 *             for each output o: its value, then ∂o/∂input for each input in graph.inputs order
 *   params  : uniform { n: bindings in this tile, stride: tile capacity, row: threads per grid row }
 *   scratch : array<f32>, segmented kernels only: scratch row r of binding b at scratch[r * stride + b]
 * A batch larger than one tile runs as several tiles of `stride` bindings (the last one shorter).
 *
 * Invariants: one thread per binding; every row is written for every binding (zeros where an output
 * does not depend on an input), so reused buffers never leak stale numbers.
 */
import { requireOutputs } from './graph.js'
import { adjointSchedule, reachedBy, type AdjointStep, type Levels } from './levelize.js'
import { OPS, type OpName, type OpSpec } from './ops.js'

/** One row of the results buffer. */
export interface Row {
  readonly kind: 'value' | 'jacobian'
  readonly output: string
  /** The input this Jacobian row differentiates by (jacobian rows only). */
  readonly input?: string
}

/** One compute kernel (a segment): a range of wavefronts and how threads map to work. */
export interface KernelPlan {
  /** 'fused': one thread per binding runs straight-line forward and reverse code for the range. */
  readonly mode: 'fused'
  readonly firstLevel: number
  readonly lastLevel: number
  /** The range is levels.order[start .. end). */
  readonly start: number
  readonly end: number
  /** Live nodes in the range. */
  readonly nodes: number
  /** Its cost (segmentCost summed), what the budget bounds. */
  readonly cost: number
}

/**
 * Where segmented kernels keep what crosses a cut, per binding. Rows [0, values) hold node values
 * an earlier segment computed for a later one; the rest hold partial adjoints: for output k and a
 * node n of an earlier segment, Σ adj(u)·∂u/∂n over n's consumers u in later segments, written by
 * the highest such segment (the first to run in reverse) and added to by the lower ones.
 */
export interface ScratchLayout {
  /** Segment (index in plan.kernels) of each live node, -1 for dead ones; inputs and constants are in segment 0. */
  readonly segment: Int32Array
  /** Scratch row of a node's value, -1 if it is not stored (an input, a constant, or used only in its own segment). */
  readonly valueRow: Int32Array
  /** Per output (none in a values-only plan): node -> scratch row of its partial adjoint from later segments. */
  readonly adjointRow: readonly ReadonlyMap<number, number>[]
  /** Per output: node -> the segment that writes its adjoint row first (the others add to it). */
  readonly firstWriter: readonly ReadonlyMap<number, number>[]
  /** Per output: the reverse sweep (adjointSchedule), computed once for every segment's emitter. */
  readonly schedules: readonly (readonly AdjointStep[])[]
  /** Per output: 1 where a node's adjoint has at least one term (the others contribute nothing). */
  readonly defined: readonly Uint8Array[]
  /** Value rows (the first rows of the scratch). */
  readonly values: number
  /** All rows: words of scratch per binding. */
  readonly rows: number
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
  /** False for a values-only plan (rows: one value row per output; no reverse sweep). */
  readonly jacobian: boolean
  /** Present when there is more than one segment (kernels.length > 1). */
  readonly scratch?: ScratchLayout
}

export interface PlanOptions {
  /**
   * Largest cost of one segment (default COST_BUDGET); Infinity gives one kernel whatever the
   * graph's size.
   */
  readonly segmentCost?: number | undefined
  /**
   * false: values only (forward mode's JVP graphs, forward-over-reverse HVPs, a model's
   * predictions): one row per output and no reverse sweep. Segmented by the same budget: a
   * forward-only kernel compiles faster than a full one but still super-linearly (lavapipe: 1,000
   * nodes 1.5 s, 2,000 nodes 4.1 s, 5,000 nodes 16.9 s).
   */
  readonly jacobian?: boolean | undefined
}

/**
 * Default segment budget, in segmentCost units (~4,000 nodes of bench/graphs.ts's mix, which
 * averages ~8 units a node). Measured on llvmpipe (2 cores, cold shader cache, quiet machine):
 * one kernel's compile grows super-linearly with its size (1,000 nodes 4-7 s, 2,000 nodes 8 s,
 * 10,000 nodes 377 s), and segments pay a price of their own (each reverse kernel recomputes its
 * forward values; every value crossing a cut is a store and a load): 2,000 nodes compile in 8 s
 * as one kernel but 23-24 s in 3 or 13 segments, and run 4x slower; 10,000 nodes compile in 254 s
 * in 4 segments (budget 16,384) against 377 s as one, and run 1.3x slower. So only graphs well
 * beyond the crossover (~5,000 nodes) are cut.
 */
export const COST_BUDGET = 32768

/**
 * Default segment budget on a hardware adapter (~250 nodes of the bench mix). Measured on an NVIDIA
 * H100 (driver 580, Dawn over Vulkan, cold shader cache): there a compile grows super-linearly too
 * (1,000 nodes 2.6 s, 2,000 nodes 8.2 s as one kernel) but a pipeline costs little on its own, so
 * small segments win: 2,000 nodes compile in 2.3 s at budget 2,048 (13 segments) against 4.6 s at
 * 8,192 and 8.2 s as one kernel, and run as fast (2.0 against 2.6 ms at B = 2^16); 10,000 nodes
 * compile in 14.5 s at 2,048 against 25.6 s at 8,192 and run faster (9.0 against 11.9 ms). A
 * 1,000-node graph runs 1.3 ms slower (2.7 ms at B = 2^16) but compiles in 1.1 s instead of 2.6 s.
 * NVIDIA's driver also refuses kernels much bigger (segments of ~4,900 nodes, cost 32,765: "failed
 * to validate local memory"), which the engine answers by cutting finer (engine.compile).
 */
export const HARDWARE_COST_BUDGET = 2048

/** Compile cost of one node: 1 for plain arithmetic, 16 for an op that calls a WGSL helper. */
export function segmentCost(kind: string): number {
  if (kind === 'input' || kind === 'const') return 0
  return (OPS[kind as OpName] as OpSpec | undefined)?.helpers?.length ? 16 : 1
}

/**
 * Threads per workgroup: a multiple of every common SIMD width, within every device's limit (256).
 * On the software adapter 128 and 256 beat 64 by up to 1.5x on small kernels (fewer workgroups to
 * schedule); between 128 and 256 the difference was within noise.
 */
export const WORKGROUP_SIZE = 128

/**
 * Plans the GPU work for a levelized graph: fused kernels over consecutive ranges of wavefronts,
 * one for a graph within the segment budget.
 *
 * @example
 * planKernels(levelize(parse('f = x*y'))).rows  // [value f, ∂f/∂x, ∂f/∂y]
 */
export function planKernels(levels: Levels, options: PlanOptions = {}): Plan {
  const { graph } = levels
  requireOutputs(graph)
  const inputs = graph.inputs
  const outputs = graph.outputs
  const jacobian = options.jacobian ?? true
  const rows: Row[] = []
  for (const output of outputs) {
    rows.push({ kind: 'value', output })
    if (jacobian) for (const input of inputs) rows.push({ kind: 'jacobian', output, input })
  }
  const kernels = segments(levels, options.segmentCost ?? COST_BUDGET)
  return {
    inputs,
    outputs,
    rows,
    kernels,
    workgroupSize: WORKGROUP_SIZE,
    depth: levels.depth,
    widest: levels.widest,
    liveCount: levels.liveCount,
    jacobian,
    ...(kernels.length > 1 ? { scratch: scratchLayout(levels, kernels, jacobian) } : {}),
  }
}

/**
 * Cuts `order` into ranges of at most `budget` cost: whole wavefronts while they fit, and a
 * wavefront costlier than the budget on its own split between its nodes (they are independent).
 */
function segments(levels: Levels, budget: number): KernelPlan[] {
  const { graph, order, level } = levels
  const cost = order.map((id) => segmentCost(graph.kind(id)))
  let total = 0
  for (const c of cost) total += c
  const whole = (): KernelPlan[] => [{ mode: 'fused', firstLevel: 0, lastLevel: levels.depth, start: 0, end: order.length, nodes: order.length, cost: total }]
  if (!(total > budget)) return whole()
  const cuts: number[] = [0]
  let used = 0
  for (let l = 0; l <= levels.depth; l++) {
    const from = levels.levelStart[l]!
    const to = levels.levelStart[l + 1]!
    let c = 0
    for (let i = from; i < to; i++) c += cost[i]!
    if (used + c <= budget) {
      used += c
      continue
    }
    if (used > 0) cuts.push(from)
    used = 0
    for (let i = from; i < to; i++) {
      if (used + cost[i]! > budget && used > 0) {
        cuts.push(i)
        used = 0
      }
      used += cost[i]!
    }
  }
  cuts.push(order.length)
  const kernels: KernelPlan[] = []
  for (let k = 0; k + 1 < cuts.length; k++) {
    const start = cuts[k]!
    const end = cuts[k + 1]!
    let c = 0
    for (let i = start; i < end; i++) c += cost[i]!
    kernels.push({ mode: 'fused', firstLevel: level[order[start]!]!, lastLevel: level[order[end - 1]!]!, start, end, nodes: end - start, cost: c })
  }
  return kernels.length > 1 ? kernels : whole()
}

/**
 * The scratch rows of a segmented plan: a value row for every op node some later segment reads,
 * and, per output, an adjoint row for every node of an earlier segment that a later segment's
 * reverse sweep contributes to (only contributions that exist: a consumer whose own adjoint has no
 * term contributes nothing, as in the unsegmented kernel). A values-only plan has no adjoint rows
 * (and no per-output sweeps).
 */
function scratchLayout(levels: Levels, kernels: readonly KernelPlan[], jacobian: boolean): ScratchLayout {
  const { graph, order } = levels
  const n = graph.nodeCount
  const segment = new Int32Array(n).fill(-1)
  kernels.forEach((k, s) => {
    for (let i = k.start; i < k.end; i++) segment[order[i]!] = s
  })
  const valueRow = new Int32Array(n).fill(-1)
  let rows = 0
  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    for (const a of graph.args(id)) {
      const ak = graph.kind(a)
      if (ak !== 'input' && ak !== 'const' && segment[a]! < segment[id]! && valueRow[a] === -1) valueRow[a] = rows++
    }
  }
  const values = rows
  const adjointRow: Map<number, number>[] = []
  const firstWriter: Map<number, number>[] = []
  const schedules: AdjointStep[][] = []
  const defined: Uint8Array[] = []
  for (const output of jacobian ? graph.outputs : []) {
    const schedule = adjointSchedule(levels, graph.outputNode(output))
    const has = reachedBy(schedule, n)
    const rowOf = new Map<number, number>()
    const writer = new Map<number, number>()
    for (const { node, users } of schedule) {
      for (const { user } of users) {
        if (!has[user]) continue
        const s = segment[user]!
        if (s > segment[node]!) {
          if (!rowOf.has(node)) rowOf.set(node, rows++)
          writer.set(node, Math.max(writer.get(node) ?? -1, s))
        }
      }
    }
    schedules.push(schedule)
    defined.push(has)
    adjointRow.push(rowOf)
    firstWriter.push(writer)
  }
  return { segment, valueRow, adjointRow, firstWriter, schedules, defined, values, rows }
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
export function tileSize(plan: Plan, limits: TileLimits, size: number, cap: number, scratchWords = plan.scratch?.rows ?? 0): number {
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
  if (!plan.jacobian) {
    if (inputIndex !== undefined) throw new RangeError('a values-only plan has no Jacobian rows')
    return outputIndex
  }
  return outputIndex * (1 + plan.inputs.length) + (inputIndex === undefined ? 0 : 1 + inputIndex)
}
