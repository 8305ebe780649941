/**
 * CPU engine: the GPU engine's interface on compiled JavaScript. In: a Graph and bindings. Out: the
 * same Results, in Float64Array, from straight-line float64 code (codegen/js.ts) — several times
 * faster than the reference engine, which interprets the graph node by node.
 *
 * Used where no WebGPU adapter exists, and only when asked for (createEngine's `fallback: 'cpu'`):
 * every result's `backend` says "cpu-js", never silently standing in for a GPU.
 */
import { checkBindings, type Bindings } from '../bindings.js'
import { emitJs, type CompiledJs } from '../codegen/js.js'
import { GraphError } from '../errors.js'
import type { Graph } from '../graph.js'
import { levelize } from '../levelize.js'
import { planKernels, type Plan } from '../plan.js'
import type { Results } from '../reference.js'
import { checkWeights, sumParamRows, type SumOptions } from '../params.js'

export const CPU_BACKEND = 'cpu-js (compiled JavaScript, float64)'

/** A graph compiled to JavaScript. */
export class CpuKernel {
  readonly #run: CompiledJs
  constructor(
    readonly graph: Graph,
    readonly plan: Plan,
    readonly description: string,
  ) {
    this.#run = emitJs(levelize(graph), plan)
  }

  /** Resolves at once: there is no pipeline to build (kept for the GPU Kernel's interface). */
  readonly ready: Promise<void> = Promise.resolve()

  /** Values and Jacobians for every binding (float64). */
  async run(bindings: Bindings, options: SumOptions = {}): Promise<Results<Float64Array>> {
    return this.runSync(bindings, options)
  }

  runSync(bindings: Bindings, options: SumOptions = {}): Results<Float64Array> {
    // As the GPU Kernel: compiled code reads the inputs it was compiled for, by position.
    if (this.graph.inputs.join(',') !== this.plan.inputs.join(',')) {
      throw new GraphError(`the graph's inputs changed after compile (now ${this.graph.inputs.join(', ')}); compile it again`)
    }
    const { size, sources } = checkBindings(this.graph, bindings)
    const weights = checkWeights(this.graph, options.weights, size)
    const rows = this.plan.rows.map(() => new Float64Array(size))
    // checkBindings without `gpu` admits no GPU buffers: only arrays and numbers are left.
    this.#run(sources as readonly (ArrayLike<number> | number)[], rows, 0, size)
    const values: Record<string, Float64Array> = {}
    const jacobian: Record<string, Record<string, Float64Array>> = {}
    this.plan.rows.forEach((row, r) => {
      if (row.kind === 'value') {
        values[row.output] = rows[r]!
        jacobian[row.output] = {}
      } else {
        jacobian[row.output]![row.input!] = rows[r]!
      }
    })
    const results = { values, jacobian, size, backend: this.description }
    return this.plan.jacobian ? sumParamRows(this.graph, results, weights) : results
  }
}

/**
 * The CPU engine: compile/evaluate like the GPU engine, on compiled JavaScript.
 *
 * @example
 * const cpu = createCpuEngine(); const r = await cpu.evaluate(parse('f = x*y'), { x: [2], y: [3] })
 * r.backend  // 'cpu-js (compiled JavaScript, float64)'
 */
export class CpuEngine {
  readonly kind = 'cpu'
  readonly #kernels = new WeakMap<Graph, { version: number; kernel: CpuKernel }>()
  readonly #valueKernels = new WeakMap<Graph, { version: number; kernel: CpuKernel }>()

  constructor(readonly description: string = CPU_BACKEND) {}

  /** `{ jacobian: false }`: values only (no reverse sweep). */
  compile(graph: Graph, options: { readonly jacobian?: boolean } = {}): CpuKernel {
    return new CpuKernel(graph, planKernels(levelize(graph), { jacobian: options.jacobian ?? true }), this.description)
  }

  async evaluate(graph: Graph, bindings: Bindings, options: SumOptions & { readonly jacobian?: boolean } = {}): Promise<Results<Float64Array>> {
    const { jacobian = true, ...run } = options
    const cache = jacobian ? this.#kernels : this.#valueKernels
    const hit = cache.get(graph)
    let kernel = hit && hit.version === graph.version ? hit.kernel : undefined
    if (!kernel) {
      kernel = this.compile(graph, { jacobian })
      cache.set(graph, { version: graph.version, kernel })
    }
    return kernel.run(bindings, run)
  }

  destroy(): void {}
}

export function createCpuEngine(): CpuEngine {
  return new CpuEngine()
}
