/**
 * plan: Program -> how the GPU computes it. In: a program (program.ts: one forward graph, its
 * schedule and its row nodes) and, at run time, the device's limits and the batch size. Out: the
 * kernels (consecutive ranges of the schedule), what crosses between them, and the batch tiling.
 *
 * Segments: a program whose cost (counted by segmentCost: what a kernel's compile time grows with,
 * SOFTWARE_COMPILE_MODEL) exceeds the budget (COST_BUDGET) is cut into consecutive ranges of its
 * schedule, one kernel each, run in order on every tile, because a compile's time grows
 * super-linearly with kernel size. A value of an earlier kernel is either
 * computed again (forward values and partials, back to checkpoints: see ScratchLayout) or loaded
 * from a scratch buffer, whose rows are taken again once their last loader has run. Every engine
 * evaluates forward graphs only (the reverse sweeps are nodes of the program), so cutting is the
 * same for Jacobians and values.
 *
 * Layout (structure of arrays, so neighbouring threads touch neighbouring words):
 *   inputs  : array<f32>, input k of binding b at  inputs[k * stride + b * steps[k]]
 *   steps   : array<u32>, 1 for an array input, 0 for a number broadcast to every binding
 *   results : array<f32>, row r of binding b at    results[r * stride + b], rows in program order:
 *             for each output o: its value, then ∂o/∂input for each input in graph.inputs order
 *   params  : uniform { n: bindings in this tile, stride: tile capacity, row: threads per grid row }
 *   scratch : array<f32>, segmented plans only: scratch row r of binding b at scratch[r * stride + b]
 * A batch larger than one tile runs as several tiles of `stride` bindings (the last one shorter).
 *
 * Invariants: one thread per binding; every row is written for every binding (zeros where an output
 * does not depend on an input), so reused buffers never leak stale numbers.
 */
import { SHADERS } from './codegen/shaders.gen.js'
import { CUSTOM_HELPERS, OPS, type OpSpec } from './ops.js'
import type { Program, Row } from './program.js'

export type { Row } from './program.js'

/** One compute kernel (a segment): a range of the program's schedule. */
export interface KernelPlan {
  /** The range is levels.schedule[start .. end). */
  readonly start: number
  readonly end: number
  /** Live nodes in the range. */
  readonly nodes: number
  /** Its cost (segmentCost summed), what the budget bounds. */
  readonly cost: number
  /**
   * The compile model's time for the kernel (ms): its range, the nodes it computes again, the
   * inputs, rows and scratch values it moves (the planner cuts finer while this exceeds 1.5 times
   * the budget's own time).
   */
  readonly predictedMs: number
}

/**
 * What crosses the cuts of a segmented plan. A kernel reads a value of an earlier kernel from the
 * scratch, or — a node of the graph's forward part, for a kernel of the reverse sweeps — computes it
 * again from the nearest checkpoints (forward values read across a cut of the forward part), when
 * that costs at most twice the budget: the sweeps read nearly every forward value, and loading them
 * all made segmented kernels several times slower (bench/RESULTS.md, "Segments").
 */
export interface ScratchLayout {
  /** Segment (index in plan.kernels) of each live node by id, -1 for dead ones. */
  readonly segment: Int32Array
  /** Scratch row of each value some kernel loads, by id; -1 for the others. */
  readonly valueRow: Int32Array
  /** Per kernel: the values it loads from the scratch (ascending ids). */
  readonly loads: readonly Int32Array[]
  /** Per kernel: the nodes of earlier kernels it computes again, in id (a topological) order. */
  readonly recompute: readonly Int32Array[]
  /** Rows in all: words of scratch per binding. */
  readonly rows: number
}

export interface Plan {
  readonly program: Program
  readonly inputs: readonly string[]
  readonly outputs: readonly string[]
  readonly rows: readonly Row[]
  /** False for a values-only plan (one row per output). */
  readonly jacobian: boolean
  readonly kernels: readonly KernelPlan[]
  readonly workgroupSize: number
  /** Live nodes of the program. */
  readonly liveCount: number
  /** A kernel moving more inputs, rows or crossing values than this does it in loops (codegen/wgsl.ts). */
  readonly loopAccesses: number
  /** Present when there is more than one segment (kernels.length > 1); worked out on first read. */
  readonly scratch?: ScratchLayout | undefined
}

export interface PlanOptions {
  /**
   * Largest cost of one segment (default COST_BUDGET); Infinity gives one kernel whatever the
   * program's size.
   */
  readonly segmentCost?: number | undefined
  /**
   * Kernels moving more than this many inputs, rows or crossing values in one go move them in loops
   * over private arrays (default LOOP_ACCESSES; Infinity: always one access per value).
   */
  readonly loopAccesses?: number | undefined
  /**
   * Check each segment's predicted compile time with all it holds and cut finer while one exceeds
   * 1.5 times the budget's own (cutProgram). Default true; GPU engines use it on software adapters
   * only, where the compile model was fitted.
   */
  readonly boundCompile?: boolean | undefined
}

/**
 * Default PlanOptions.loopAccesses. On lavapipe the compile time of a kernel grows with the square
 * of its buffer accesses (1,000 loads: 159 s one by one, 2.3 s in a loop), while a loop over a
 * private array costs little at run time.
 */
export const LOOP_ACCESSES = 16

/**
 * Compile-time model of a fused kernel on the software adapter (Mesa lavapipe 25.0), in ms:
 * base + perCost·c + perCost2·c² + perAccess2·a², for a kernel of cost c (segmentCost summed) that
 * moves a inputs and rows. Fitted by least squares (weighted to relative error) to single-kernel
 * compiles of 36 programs from 250 to 12,000 nodes — chains of sin and of cheap ops, sin sums,
 * random DAGs, tanh MLPs, the bench graph, many outputs, many inputs, where and min/max chains —
 * measured through the engine (bench/compile-model.ts, bench/COMPILE.md). Over them the prediction
 * was off by a geometric-mean factor of 1.6, at worst by 2.6-3.8 from run to run (random DAGs,
 * min/max chains and the bench graph take longer than predicted, cheap chains less).
 * An NVIDIA H200 compiled the earlier kernels 5-10x faster (issue 18); the model is not used on
 * hardware adapters (PlanOptions.boundCompile).
 */
export const SOFTWARE_COMPILE_MODEL = { base: 152, perCost: 3.0e-3, perCost2: 8.03e-7, perAccess2: 5.86e-3 } as const

/** The model's compile time (ms) of one kernel of `cost` moving `accesses` inputs and rows. */
export function predictCompileMs(cost: number, accesses = 0): number {
  const m = SOFTWARE_COMPILE_MODEL
  return m.base + m.perCost * cost + m.perCost2 * cost * cost + m.perAccess2 * accesses * accesses
}

/** The model's compile time (ms) of a plan's fused kernels, built one after another. */
export function predictPlanCompileMs(plan: Plan): number {
  return plan.kernels.reduce((ms, k) => ms + k.predictedMs, 0)
}

/**
 * Default segment budget on a software adapter: the largest kernel the compile model predicts to
 * build in about 1 s (1.07 s; measured up to 2.7 s, within the model's error). With cutProgram's
 * check of each segment's whole content, it bounds how long one step of a background build of
 * tier 'auto' holds a core (1.6 s by the model). A program over the budget is cut into segments
 * whose compile time adds up linearly; every 1,000-node program of the catalogue fits in one.
 */
export const COST_BUDGET = 32768

/**
 * Default segment budget on a hardware adapter. Chosen on an NVIDIA H100 with earlier kernels,
 * where a pipeline cost little and compile time grew super-linearly, so small segments won
 * (bench/RESULTS-nvidia-h100.md): 2,048 units of the cost then (1 per arithmetic node, 16 per
 * helper call), about 6,144 of today's. Not measured since; scripts/gpu-check.sh's 'ab' stage
 * compares it with one kernel on a GPU. A driver that cannot build a segment that big gets the
 * program cut finer (Kernel's fused build).
 */
export const HARDWARE_COST_BUDGET = 6144

/** Cost of any op node beyond its operations: its statement, its value's register. */
const NODE_COST = 2

const opCosts = new Map<string, number>()

/**
 * Compile cost of one node: NODE_COST plus the operations of its WGSL, helpers included (an add
 * costs 3, a sin, which calls wg_sincos, 47); inputs and constants cost nothing. The unit of
 * segmentCost budgets and of SOFTWARE_COMPILE_MODEL.
 */
export function segmentCost(kind: string): number {
  if (kind === 'input' || kind === 'const') return 0
  let cost = opCosts.get(kind)
  if (cost === undefined) {
    const spec = (OPS as Record<string, OpSpec | undefined>)[kind]
    cost = NODE_COST + (spec ? wgslOperations(spec) : 1)
    opCosts.set(kind, cost)
  }
  return cost
}

/** Operations in an op's WGSL and its helpers' bodies (a native transcendental call counts 8). */
function wgslOperations(spec: OpSpec): number {
  const args = ['a', 'b', 'c'].slice(0, spec.arity)
  let code = spec.wgsl(args, args.map(() => undefined))
  for (const h of spec.helpers ?? []) code += SHADERS[h] ?? CUSTOM_HELPERS.get(h) ?? ''
  code = code
    .replace(/\/\/.*$/gm, '')
    .replace(/fn \w+\([^)]*\)\s*->\s*[\w<>]+/g, '')
    .replace(/\b\d+(\.\d*)?([eE][-+]?\d+)?[uif]?\b/g, '0')
  const natives = code.match(/\b(exp|exp2|log|log2|sin|cos|tan|atan|atan2|sqrt|cosh|sinh|tanh|pow)\(/g)?.length ?? 0
  const plain = code.match(/[-+*/]|[<>]=?|==|!=|\b(select|round|floor|ceil|abs|clamp|min|max|fma|bitcast)\b/g)?.length ?? 0
  return Math.max(1, plain + 8 * natives)
}

/**
 * Threads per workgroup: a multiple of every common SIMD width, within every device's limit (256).
 * On the software adapter 128 and 256 beat 64 by up to 1.5x on small kernels (fewer workgroups to
 * schedule); between 128 and 256 the difference was within noise.
 */
export const WORKGROUP_SIZE = 128

/**
 * Plans the GPU work for a program: kernels over consecutive ranges of its schedule, one for a
 * program within the segment budget.
 *
 * @example
 * planKernels(programOf(parse('f = x*y'))).rows  // [value f, ∂f/∂x, ∂f/∂y]
 */
export function planKernels(program: Program, options: PlanOptions = {}): Plan {
  const budget = options.segmentCost ?? COST_BUDGET
  // The cuts and the scratch layout are worked out on first use: only the fused tier reads them,
  // and for a program that only ever runs on the interpreter (10^5 nodes: ~0.7 s) they would be
  // wasted.
  let cut: { kernels: readonly KernelPlan[]; scratch: ScratchLayout | undefined } | undefined
  return {
    program,
    inputs: program.inputs,
    outputs: program.outputs,
    rows: program.rows,
    jacobian: program.jacobian,
    get kernels() {
      return (cut ??= cutProgram(program, budget, options.boundCompile ?? true)).kernels
    },
    workgroupSize: WORKGROUP_SIZE,
    liveCount: program.levels.liveCount,
    loopAccesses: options.loopAccesses ?? LOOP_ACCESSES,
    get scratch() {
      return (cut ??= cutProgram(program, budget, options.boundCompile ?? true)).scratch
    },
  }
}

/** Budgets below this are taken as they are (tests cut programs into single nodes with them). */
const MIN_REFINED_BUDGET = 1024

/**
 * Cuts a program by `budget`, then checks each kernel's predicted compile time with all it holds:
 * its range, the nodes it computes again and the values it loads and stores (a segment of a random
 * DAG may load a thousand values: measured 20 s where its range alone predicts 1 s). While one
 * exceeds 1.5 times the budget's own prediction, the program is cut again at half the budget.
 */
function cutProgram(program: Program, budget: number, bound: boolean): { kernels: readonly KernelPlan[]; scratch: ScratchLayout | undefined } {
  const limit = 1.5 * predictCompileMs(budget)
  for (let b = budget; ; b = Math.floor(b / 2)) {
    const ranges = segments(program, b)
    if (ranges.length === 1) return { kernels: [{ ...ranges[0]!, predictedMs: predictCompileMs(ranges[0]!.cost, program.inputs.length + program.rows.length) }], scratch: undefined }
    const scratch = scratchLayout(program, ranges, b)
    const rows = new Int32Array(ranges.length)
    for (const id of program.rowNodes) {
      const s = scratch.segment[id]!
      if (s >= 0) rows[s] = rows[s]! + 1
    }
    const kernels = ranges.map((k, s) => ({ ...k, predictedMs: segmentCompileMs(program, k, scratch.loads[s]!.length + rows[s]!, scratch.recompute[s]!, scratch.valueRow) }))
    if (!bound || b < MIN_REFINED_BUDGET || kernels.every((k) => k.predictedMs <= limit)) return { kernels, scratch }
  }
}

/**
 * The model's compile time of a segment: its range and the nodes it computes again; the inputs,
 * the `moved` loads and rows, and the values it stores for later kernels.
 */
function segmentCompileMs(program: Program, k: Omit<KernelPlan, 'predictedMs'>, moved: number, recompute: Int32Array, valueRow: Int32Array): number {
  const { graph, schedule } = program.levels
  let cost = k.cost
  for (const id of recompute) cost += segmentCost(graph.kind(id))
  let stores = 0
  for (let i = k.start; i < k.end; i++) if (valueRow[schedule[i]!]! >= 0) stores++
  return predictCompileMs(cost, program.inputs.length + moved + stores)
}

/**
 * A lower bound of predictPlanCompileMs that needs no scratch layout: the model's time of each
 * range cut by `budget`, alone. Cheap enough to decide, at a graph's second run, whether 'auto'
 * builds it at all.
 */
export function rangeCompileMs(program: Program, budget: number): number {
  const ranges = segments(program, budget)
  const accesses = ranges.length === 1 ? program.inputs.length + program.rows.length : 0
  return ranges.reduce((ms, k) => ms + predictCompileMs(k.cost, accesses), 0)
}

/** Cuts the schedule into ranges of at most `budget` cost (a node costlier than that is a range of its own). */
function segments(program: Program, budget: number): Omit<KernelPlan, 'predictedMs'>[] {
  const { graph, schedule } = program.levels
  const kernels: Omit<KernelPlan, 'predictedMs'>[] = []
  let start = 0
  let cost = 0
  for (let i = 0; i <= schedule.length; i++) {
    const c = i < schedule.length ? segmentCost(graph.kind(schedule[i]!)) : 0
    if (i === schedule.length || (cost + c > budget && cost > 0)) {
      if (i > start) kernels.push({ start, end: i, nodes: i - start, cost })
      start = i
      cost = 0
    }
    cost += c
  }
  return kernels.length ? kernels : [{ start: 0, end: schedule.length, nodes: schedule.length, cost: 0 }]
}

/**
 * The scratch of a segmented plan: which values each kernel loads or computes again (see
 * ScratchLayout), and a row for each loaded value, taken from the kernel computing it until its
 * last loader has run, then free for later kernels' values.
 */
function scratchLayout(program: Program, kernels: readonly Omit<KernelPlan, 'predictedMs'>[], budget: number): ScratchLayout {
  const { graph, schedule } = program.levels
  const n = graph.nodeCount
  const forward = program.forwardNodes
  const segment = new Int32Array(n).fill(-1)
  kernels.forEach((k, s) => {
    for (let i = k.start; i < k.end; i++) segment[schedule[i]!] = s
  })
  const isOp = (id: number) => graph.kind(id) !== 'input' && graph.kind(id) !== 'const'
  // Checkpoints: forward values that a later kernel's forward nodes read (the forward part's own
  // frontier at its cuts). Those are always loaded; recomputation stops at them.
  const checkpoint = new Uint8Array(n)
  for (const id of schedule) {
    if (id >= forward || !isOp(id)) continue
    for (const a of graph.args(id)) if (isOp(a) && segment[a]! < segment[id]!) checkpoint[a] = 1
  }
  const loads: Int32Array[] = []
  const recompute: Int32Array[] = []
  const mark = new Int32Array(n).fill(-1)
  kernels.forEach((k, s) => {
    const crossing: number[] = []
    for (let i = k.start; i < k.end; i++) {
      for (const a of graph.args(schedule[i]!)) {
        if (isOp(a) && segment[a]! < s && mark[a] !== s) {
          mark[a] = s
          crossing.push(a)
        }
      }
    }
    // Values computed again instead of loaded: forward values, and the sweeps' partials (functions
    // of forward values), back to checkpoints, while what is computed again costs at most twice the
    // budget (about a forward segment and the part of the next the sweep reads). An adjoint (a
    // gmadd of the sweeps) is always loaded: computing it again would repeat the sweep above it.
    const cap = 2 * budget
    const again = new Set<number>()
    const fromScratch = new Set<number>()
    const sweep = (u: number) => u >= forward && graph.kind(u) === 'gmadd'
    let cost = 0
    for (const v of crossing.sort((x, y) => y - x)) {
      if (checkpoint[v] || sweep(v)) {
        fromScratch.add(v)
        continue
      }
      if (again.has(v)) continue
      // v's nodes not yet computed again, back to checkpoints and loaded values (loaded).
      const fresh: number[] = []
      const reached = new Set<number>([v])
      const stack = [v]
      let extra = 0
      let fits = true
      while (stack.length && fits) {
        const u = stack.pop()!
        fresh.push(u)
        extra += segmentCost(graph.kind(u))
        for (const a of graph.args(u)) {
          if (!isOp(a) || reached.has(a) || again.has(a) || checkpoint[a] || fromScratch.has(a)) continue
          if (sweep(a)) fits = false
          reached.add(a)
          stack.push(a)
        }
        if (cost + extra > cap) fits = false
      }
      if (!fits) {
        fromScratch.add(v)
        continue
      }
      cost += extra
      for (const u of fresh) {
        again.add(u)
        for (const a of graph.args(u)) if (isOp(a) && (checkpoint[a] || fromScratch.has(a))) fromScratch.add(a)
      }
    }
    loads.push(Int32Array.from(fromScratch).sort())
    recompute.push(Int32Array.from(again).sort())
  })
  const lastLoader = new Int32Array(n).fill(-1)
  loads.forEach((ids, s) => {
    for (const id of ids) lastLoader[id] = Math.max(lastLoader[id]!, s)
  })
  const valueRow = new Int32Array(n).fill(-1)
  const freedAfter: number[][] = kernels.map(() => [])
  const free: number[] = []
  let rows = 0
  kernels.forEach((k, s) => {
    if (s > 0) for (const row of freedAfter[s - 1]!) free.push(row)
    for (let i = k.start; i < k.end; i++) {
      const id = schedule[i]!
      if (lastLoader[id]! < 0) continue
      valueRow[id] = free.length ? free.pop()! : rows++
      freedAfter[lastLoader[id]!]!.push(valueRow[id]!)
    }
  })
  return { segment, valueRow, loads, recompute, rows }
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
export { rowIndex } from './program.js'
