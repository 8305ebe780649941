/**
 * Graph transformations for users: gradients, JVPs and Hessian-vector products as ordinary graphs.
 * In: a Graph. Out: a new Graph whose outputs are derivatives of the original's — gradients
 * (reverse accumulation), JVPs (forward accumulation), Hessian-vector products (forward over
 * reverse) — so any engine evaluates them unchanged, and an engine's Jacobian of a gradient graph is
 * the Hessian. The sweeps themselves are autodiff.ts's, the same the engines' Jacobians come from.
 *
 * Invariants: the transformed graph has the original's inputs in the original order (JVP/HVP graphs
 * then add one tangent input per input); transformed graphs are cached per (graph, version,
 * options). Generated names never silently collide: a clash raises GraphError.
 */
import { adjoints, copyNodes, partialsOf, tangents } from './autodiff.js'
import type { Bindings } from './bindings.js'
import { perGraph } from './cache.js'
import { BindingError, GraphError } from './errors.js'
import { Graph, requireOutputs, type Expr } from './graph.js'
import { levelize } from './levelize.js'
import { evaluateCpu, type CpuOptions } from './reference.js'
import type { Evaluator } from './results.js'

/** Anything with `evaluate(graph, bindings)`: the GPU or CPU engine, or referenceEngine(). */
export type EvaluatingEngine<A extends ArrayLike<number> = ArrayLike<number>> = Evaluator<A>

/** Values only: what forward mode needs. */
const VALUES_ONLY = { jacobian: false } as const

export interface GradientGraphOptions {
  /** The inputs to differentiate by (default: all, in input order). */
  readonly wrt?: readonly string[]
}

export interface JvpGraphOptions {
  /** Keep the original outputs as outputs of the JVP graph (default true). */
  readonly values?: boolean
}

/**
 * Name of the gradient output ∂output/∂input in a gradient graph (likewise the three below).
 *
 * @example
 * gradientName('f', 'x')   // 'd_f_x';  tangentName('x') // 'tangent_x'
 */
export function gradientName(output: string, input: string): string {
  return `d_${output}_${input}`
}
/** Name of the tangent input of `input` in a JVP or HVP graph. */
export function tangentName(input: string): string {
  return `tangent_${input}`
}
/** Name of an output's JVP in a JVP graph. */
export function jvpName(output: string): string {
  return `jvp_${output}`
}
/** Name of (H·v)_input for an output in an HVP graph. */
export function hvpName(output: string, input: string): string {
  return `hvp_${output}_${input}`
}

const cached = perGraph<Graph>()

/** Throws GraphError naming the first generated name that is already taken or generated twice. */
function claimNames(taken: Iterable<string>, generated: readonly string[], what: string): void {
  const seen = new Set(taken)
  for (const name of generated) {
    if (seen.has(name)) throw new GraphError(`${what}: the generated name '${name}' clashes with a name of the graph or another generated name; rename that input or output`)
    seen.add(name)
  }
}

function resolveWrt(graph: Graph, wrt: readonly string[] | undefined): readonly string[] {
  if (wrt === undefined) return graph.inputs
  const known = new Set(graph.inputs)
  for (const name of wrt) if (!known.has(name)) throw new GraphError(`wrt: no input named '${String(name)}' (inputs: ${graph.inputs.join(', ') || 'none'})`)
  if (new Set(wrt).size !== wrt.length) throw new GraphError(`wrt names an input twice: ${wrt.join(', ')}`)
  return wrt
}

/** A new graph with `src`'s inputs (then `extra` inputs), its live nodes copied, and those nodes' partials. */
function derive(src: Graph, extra: readonly string[] = []) {
  const levels = levelize(src)
  const dst = new Graph()
  for (const i of [...src.inputs, ...extra]) dst.input(i)
  const map = copyNodes(src, levels, dst, (name) => dst.input(name))
  return { levels, dst, map, partial: partialsOf(src, dst, map) }
}

/**
 * The gradient graph: the same inputs, and one output `d_<output>_<input>` = ∂output/∂input per
 * output and `wrt` input, built symbolically by reverse accumulation. Evaluating it gives the
 * Jacobian as values; an engine's Jacobian of it is the Hessian (see `hessian`).
 *
 * @example
 * const gg = gradientGraph(parse('f = x*x*y'))
 * gg.outputs                                         // ['d_f_x', 'd_f_y']
 * evaluateCpu(gg, { x: [3], y: [2] }).values.d_f_x   // [12]
 */
export function gradientGraph(graph: Graph, options: GradientGraphOptions = {}): Graph {
  requireOutputs(graph)
  const wrt = resolveWrt(graph, options.wrt)
  return cached(graph, `gradient:${JSON.stringify(wrt)}`, () => {
    const names = graph.outputs.flatMap((o) => wrt.map((i) => gradientName(o, i)))
    claimNames(graph.inputs, names, 'gradientGraph')
    const { levels, dst, partial } = derive(graph)
    for (const o of graph.outputs) {
      const adj = adjoints(graph, levels, graph.outputNode(o), partial, dst)
      for (const i of wrt) dst.output(gradientName(o, i), adj.get(graph.inputNode(i)) ?? 0)
    }
    return dst
  })
}

/**
 * The JVP graph: the original inputs, then one tangent input `tangent_<input>` per input; outputs
 * each original `<output>` (unless `values: false`), then `jvp_<output>` = Σ_i ∂output/∂input_i ·
 * tangent_i, built by forward accumulation. An engine's Jacobian of `jvp_<output>` is H·v with
 * respect to the inputs and the gradient with respect to the tangents.
 *
 * @example
 * const jg = jvpGraph(parse('f = x*y'))
 * jg.inputs    // ['x', 'y', 'tangent_x', 'tangent_y']
 * evaluateCpu(jg, { x: [2], y: [3], tangent_x: [1], tangent_y: [10] }).values.jvp_f   // [3 + 20]
 */
export function jvpGraph(graph: Graph, options: JvpGraphOptions = {}): Graph {
  requireOutputs(graph)
  const values = options.values ?? true
  return cached(graph, `jvp:${values}`, () => {
    const names = graph.inputs.map(tangentName)
    claimNames([...graph.inputs, ...graph.outputs], [...names, ...graph.outputs.map(jvpName)], 'jvpGraph')
    const { levels, dst, map, partial } = derive(graph, names)
    const dot = tangents(graph, levels, partial, dst, (name) => dst.input(tangentName(name)))
    for (const o of graph.outputs) {
      if (values) dst.output(o, map[graph.outputNode(o)]!)
      dst.output(jvpName(o), dot[graph.outputNode(o)]!)
    }
    return dst
  })
}

/**
 * The HVP graph, forward over reverse: the original inputs, then `tangent_<input>` per `wrt` input;
 * outputs `hvp_<output>_<input>` = (H·v)_input = Σ_j ∂²output/∂input∂input_j · tangent_j — the
 * forward-mode tangent of the gradient graph's outputs.
 *
 * @example
 * const hg = hvpGraph(parse('f = x*x*y'))            // H = [[2y, 2x], [2x, 0]]
 * evaluateCpu(hg, { x: [3], y: [2], tangent_x: [1], tangent_y: [0] }).values.hvp_f_x   // [4]
 */
export function hvpGraph(graph: Graph, options: GradientGraphOptions = {}): Graph {
  requireOutputs(graph)
  const wrt = resolveWrt(graph, options.wrt)
  return cached(graph, `hvp:${JSON.stringify(wrt)}`, () => {
    const grad = gradientGraph(graph, { wrt })
    const directions = wrt.map(tangentName)
    const names = graph.outputs.flatMap((o) => wrt.map((i) => hvpName(o, i)))
    claimNames([...graph.inputs, ...graph.outputs], [...directions, ...names], 'hvpGraph')
    const { levels, dst, partial } = derive(grad, directions)
    const seeded = new Set(wrt)
    const dot = tangents(grad, levels, partial, dst, (name) => (seeded.has(name) ? dst.input(tangentName(name)) : 0))
    graph.outputs.forEach((o) => wrt.forEach((i) => dst.output(hvpName(o, i), dot[grad.outputNode(gradientName(o, i))]!)))
    return dst
  })
}

/**
 * evaluateCpu as an engine (float64 unless `precision: 'f32'`), for the functions below.
 *
 * @example
 * const H = await hessian(g, referenceEngine(), { x: [1], y: [2] })
 */
export function referenceEngine(options: CpuOptions = {}): EvaluatingEngine<Float64Array> {
  return { evaluate: (graph, bindings, more = {}) => evaluateCpu(graph, bindings, { ...options, ...more }) }
}

/** hessian[output][input_i][input_j] = ∂²output/∂input_i∂input_j, one number per binding. */
export type Hessian<A> = Record<string, Record<string, Record<string, A>>>

/**
 * Full Hessians per binding: evaluates the gradient graph on `engine` and reads its Jacobian. Cost
 * grows with the number of inputs squared; for one direction use `hvp`.
 *
 * @example
 * const H = await hessian(parse('f = (1-x)^2 + 100*(y-x^2)^2'), await createGpuEngine(), { x, y })
 * H.f.x.y   // ∂²f/∂x∂y = -400x per binding
 */
export async function hessian<A extends ArrayLike<number>>(graph: Graph, engine: EvaluatingEngine<A>, bindings: Bindings, options: GradientGraphOptions = {}): Promise<Hessian<A>> {
  const wrt = resolveWrt(graph, options.wrt)
  const r = await engine.evaluate(gradientGraph(graph, { wrt }), bindings)
  return Object.fromEntries(graph.outputs.map((o) => [o, Object.fromEntries(wrt.map((i) => [i, Object.fromEntries(wrt.map((j) => [j, r.jacobian[gradientName(o, i)]![j]!]))]))]))
}

/** Tangents (or HVP directions) by input name; a missing input gets 0. */
export type Tangents = Readonly<Record<string, Bindings[string]>>

/**
 * The bindings of a tangent-extended graph: the user's, plus `tangent_<i>` for each of `inputs`
 * (a direction given in `vectors`, else 0). Directions may only be given for `allowed` inputs.
 */
function tangentBindings(bindings: Bindings, vectors: Tangents, allowed: readonly string[], inputs: readonly string[], what: string): Bindings {
  if (vectors === null || typeof vectors !== 'object') throw new BindingError(`${what}: directions must be an object mapping input names to arrays or numbers`)
  const known = new Set(allowed)
  const unknown = Object.keys(vectors).filter((k) => !known.has(k))
  if (unknown.length) throw new BindingError(`${what}: unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (directions may be given for: ${allowed.join(', ') || 'none'})`)
  const out: Record<string, Bindings[string]> = { ...bindings }
  for (const i of inputs) out[tangentName(i)] = Object.prototype.hasOwnProperty.call(vectors, i) ? vectors[i]! : 0
  return out
}

export interface JvpResults<A> {
  readonly values: Record<string, A>
  /** jvp[output] = Σ_i ∂output/∂input_i · tangent_i per binding. */
  readonly jvp: Record<string, A>
  readonly size: number
  readonly backend: string
}

/**
 * Values and Jacobian-vector products (forward mode) per binding, on any engine.
 *
 * @example
 * const r = await jvp(parse('f = x*y'), engine, { x: [2], y: [3] }, { x: [1] })
 * r.jvp.f   // [3]: ∂f/∂x · 1
 */
export async function jvp<A extends ArrayLike<number>>(graph: Graph, engine: EvaluatingEngine<A>, bindings: Bindings, tangents: Tangents): Promise<JvpResults<A>> {
  const jg = jvpGraph(graph)
  const r = await engine.evaluate(jg, tangentBindings(bindings, tangents, graph.inputs, graph.inputs, 'jvp'), VALUES_ONLY)
  return {
    values: Object.fromEntries(graph.outputs.map((o) => [o, r.values[o]!])),
    jvp: Object.fromEntries(graph.outputs.map((o) => [o, r.values[jvpName(o)]!])),
    size: r.size,
    backend: r.backend,
  }
}

export interface HvpOptions extends GradientGraphOptions {
  /**
   * 'forward-over-reverse' (default): hvpGraph's values, evaluated values-only (one fused forward
   * kernel, n rows per output, no reverse sweep of its own): compiles fastest; runs within noise
   * of reverse-over-forward on the software adapter.
   * 'reverse-over-forward': the engine's Jacobian of the JVP graph (tangents only on `wrt`) with
   * respect to the inputs — one reverse sweep, 2n rows per output; the same numbers, for engines
   * without a values-only mode (bench/SECOND_ORDER.md compares the two).
   */
  readonly method?: 'forward-over-reverse' | 'reverse-over-forward'
}

export interface HvpResults<A> {
  /** hvp[output][input] = (H·v)_input per binding. */
  readonly hvp: Record<string, Record<string, A>>
  readonly size: number
  readonly backend: string
}

/**
 * Hessian-vector products per binding: (H·v)_i = Σ_j ∂²output/∂x_i∂x_j · v_j, on any engine; one
 * fused graph, no n² Hessian (see HvpOptions.method).
 *
 * @example
 * const r = await hvp(parse('f = x*x*y'), engine, { x: [3], y: [2] }, { x: [1], y: [0] })
 * r.hvp.f.x   // [4]: 2y·1 + 2x·0
 */
export async function hvp<A extends ArrayLike<number>>(graph: Graph, engine: EvaluatingEngine<A>, bindings: Bindings, vectors: Tangents, options: HvpOptions = {}): Promise<HvpResults<A>> {
  const wrt = resolveWrt(graph, options.wrt)
  const method = options.method ?? 'forward-over-reverse'
  if (method === 'forward-over-reverse') {
    const r = await engine.evaluate(hvpGraph(graph, { wrt }), tangentBindings(bindings, vectors, wrt, wrt, 'hvp'), VALUES_ONLY)
    return { hvp: Object.fromEntries(graph.outputs.map((o) => [o, Object.fromEntries(wrt.map((i) => [i, r.values[hvpName(o, i)]!]))])), size: r.size, backend: r.backend }
  }
  if (method !== 'reverse-over-forward') throw new TypeError(`hvp: method must be 'forward-over-reverse' or 'reverse-over-forward', got ${String(method)}`)
  // Tangents of inputs outside `wrt` are bound to 0: the JVP is along `wrt` only.
  const r = await engine.evaluate(jvpGraph(graph, { values: false }), tangentBindings(bindings, vectors, wrt, graph.inputs, 'hvp'))
  return { hvp: Object.fromEntries(graph.outputs.map((o) => [o, Object.fromEntries(wrt.map((i) => [i, r.jacobian[jvpName(o)]![i]!]))])), size: r.size, backend: r.backend }
}
