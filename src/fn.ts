/**
 * fn: graphs traced from JavaScript functions, as in JAX and jax-js. In: a function of Expr
 * placeholders (one per input, in order) that returns an Expr (the output `out`) or an object of
 * them (one output per key), and the input names: given as a list, or read from the function's
 * parameter list. Out: a TracedFunction holding the Graph, typed with its input, output and
 * parameter names, that evaluates on any engine (by default one shared createEngine()).
 *
 * The function runs once, at fn(): what it returns is the graph. Plain JS control flow is traced
 * away (a loop unrolls, an `if` on a JS value picks a branch); a branch on the data is `where`.
 */
import { createAutoEngine, type AutoEngine } from './auto.js'
import type { Bindings } from './bindings.js'
import { GraphError } from './errors.js'
import { checkName, Expr, Graph, describe, type ExprLike } from './graph.js'
import type { Results, SumOptions } from './results.js'

/** What a traced function returns: one Expr (or number), the output `out`; or named outputs. */
export type Traced = ExprLike | { readonly [output: string]: ExprLike }

/** The output names of a traced function's return value. */
export type OutputNames<R> = R extends ExprLike ? 'out' : Extract<keyof R, string>

/** The Exprs a traced function is called with: one per name, in order. */
export type Placeholders<N extends readonly string[]> = { readonly [K in keyof N]: Expr }

/** Input names, with the parameters (one value for the whole batch; see Graph.param) apart. */
export interface FnSignature {
  /** Ordinary inputs: one value per binding, a Jacobian row each. */
  readonly inputs: readonly string[]
  /** Parameters: the function takes them after the inputs. */
  readonly params?: readonly string[]
}

/** Anything that evaluates graphs into arrays of type A: every wavegrad engine. */
export interface FnEngine<A> {
  evaluate(graph: Graph, bindings: Bindings, options?: SumOptions & { readonly jacobian?: boolean }): Promise<Results<A>>
}

/** Options of a traced function's calls. */
export interface FnRunOptions extends SumOptions {
  /** Stops the run: it rejects with the signal's reason (an AbortError unless you gave another). */
  readonly signal?: AbortSignal
}

/** The input (`K` = 'inputs') or parameter names of a signature, as a union of literals. */
export type SignatureNames<S extends FnSignature, K extends 'inputs' | 'params'> = S[K] extends readonly (infer N extends string)[] ? N : never

/** A graph traced from a function: evaluate it with bindings of its input names. */
export class TracedFunction<I extends string, O extends string, P extends string> {
  constructor(
    /** The traced graph (inputs in the function's parameter order). */
    readonly graph: Graph<I, O, P>,
  ) {}

  get inputs(): readonly I[] {
    return this.graph.inputs
  }

  get outputs(): readonly O[] {
    return this.graph.outputs
  }

  get params(): readonly P[] {
    return this.graph.params
  }

  /**
   * Values and Jacobians (and, for parameters, batch-summed gradients) for every binding: what
   * `engine.evaluate(f.graph, bindings)` returns. Without `engine`, the shared default engine.
   */
  valueAndJacobian(bindings: Bindings<I>, options?: FnRunOptions): Promise<Results<Float32Array, I, O, P>>
  valueAndJacobian<A>(bindings: Bindings<I>, options: FnRunOptions & { readonly engine: FnEngine<A> }): Promise<Results<A, I, O, P>>
  async valueAndJacobian(bindings: Bindings<I>, options: FnRunOptions & { readonly engine?: FnEngine<unknown> } = {}): Promise<Results<unknown, I, O, P>> {
    return this.#evaluate(bindings, options, true)
  }

  /** The outputs' values alone, per binding (no reverse sweep is computed). */
  value(bindings: Bindings<I>, options?: FnRunOptions): Promise<Record<O, Float32Array>>
  value<A>(bindings: Bindings<I>, options: FnRunOptions & { readonly engine: FnEngine<A> }): Promise<Record<O, A>>
  async value(bindings: Bindings<I>, options: FnRunOptions & { readonly engine?: FnEngine<unknown> } = {}): Promise<Record<O, unknown>> {
    return (await this.#evaluate(bindings, options, false)).values
  }

  async #evaluate(bindings: Bindings<I>, options: FnRunOptions & { readonly engine?: FnEngine<unknown> }, jacobian: boolean): Promise<Results<unknown, I, O, P>> {
    const { engine, ...run } = options
    const evaluator = engine ?? (await defaultEngine())
    return (await evaluator.evaluate(this.graph, bindings, { ...run, jacobian })) as Results<unknown, I, O, P>
  }
}

let shared: Promise<AutoEngine> | undefined

/**
 * The engine traced functions run on when no `engine` is given: one createEngine() per page or
 * process, made on first use (it keeps no Node process alive).
 */
export function defaultEngine(): Promise<AutoEngine> {
  shared ??= createAutoEngine({}).catch((e: unknown) => {
    shared = undefined
    throw e
  })
  return shared
}

/**
 * Traces a function of Expr placeholders into a graph.
 *
 * Input names come from `names` (a list, or `{ inputs, params }`), or else from the function's own
 * parameter list. A minifier renames parameters: code that will be minified should give the names.
 * Only with literal names does TypeScript know them (results then have exactly those keys).
 *
 * @example
 * const f = fn(['x', 'y'], (x, y) => x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)))
 * const r = await f.valueAndJacobian({ x: xs, y: ys })    // r.values.out, r.jacobian.out.x
 * const model = fn({ inputs: ['x', 'y'], params: ['a', 'b'] }, (x, y, a, b) => ({ loss: a.mul(x).add(b).sub(y).pow(2) }))
 * const g = await model.valueAndJacobian({ x: xs, y: ys, a: 0.5, b: 0 })   // g.gradients.loss.a
 */
export function fn<const N extends readonly string[], R extends Traced>(names: N, body: (...inputs: Placeholders<N>) => R): TracedFunction<N[number], OutputNames<R>, never>
export function fn<const S extends FnSignature, R extends Traced>(signature: S, body: (...inputs: Placeholders<[...S['inputs'], ...(S['params'] extends readonly string[] ? S['params'] : [])]>) => R): TracedFunction<SignatureNames<S, 'inputs'> | SignatureNames<S, 'params'>, OutputNames<R>, SignatureNames<S, 'params'>>
export function fn<R extends Traced>(body: (...inputs: Expr[]) => R, options?: { readonly params?: readonly string[] }): TracedFunction<string, OutputNames<R>, string>
export function fn(first: unknown, second?: unknown): TracedFunction<string, string, string> {
  /** Every name in the order the function takes them. */
  let inputs: readonly string[]
  let params: readonly string[]
  let body: unknown
  if (typeof first === 'function') {
    body = first
    if (Array.isArray(second)) throw new GraphError('fn: give the names first, then the function: fn([...names], (x, y) => ...)')
    inputs = parameterNames(first)
    params = readList((second as { params?: unknown } | undefined)?.params ?? [], 'params')
    for (const p of params) if (!inputs.includes(p)) throw new GraphError(`fn: parameter '${p}' is not one of the function's parameters (${inputs.join(', ') || 'none'})`)
  } else {
    body = second
    if (Array.isArray(first)) {
      inputs = readList(first, 'names')
      params = []
    } else if (typeof first === 'object' && first !== null) {
      const s = first as { inputs?: unknown; params?: unknown }
      inputs = readList(s.inputs ?? [], 'inputs')
      params = readList(s.params ?? [], 'params')
    } else {
      throw new GraphError(`fn expects a function, or input names and a function; got ${describe(first)}`)
    }
    if (typeof body !== 'function') throw new GraphError(`fn: the second argument must be the function to trace, got ${describe(body)}`)
    inputs = [...inputs, ...params]
  }
  const twice = inputs.find((n, i) => inputs.indexOf(n) !== i)
  if (twice !== undefined) throw new GraphError(`fn: the name '${twice}' is given twice`)
  const graph = new Graph()
  const placeholders = inputs.map((n) => (params.includes(n) ? graph.param(n) : graph.input(n)))
  const out = (body as (...args: Expr[]) => unknown)(...placeholders)
  if (out instanceof Promise) throw new GraphError('fn: the function returned a Promise; a traced function runs once, synchronously, on Expr placeholders')
  if (typeof out === 'number' || out instanceof Expr) graph.output('out', out)
  else if (typeof out === 'object' && out !== null && !Array.isArray(out)) {
    const entries = Object.entries(out)
    if (!entries.length) throw new GraphError('fn: the function returned an object with no outputs')
    for (const [name, e] of entries) {
      if (typeof e !== 'number' && !(e instanceof Expr)) throw new GraphError(`fn: output '${name}' is ${describe(e)}, not an Expr or a number`)
      graph.output(name, e)
    }
  } else throw new GraphError(`fn: the function must return an Expr, a number or an object of them (one output per key), got ${describe(out)}`)
  return new TracedFunction(graph)
}

function readList(list: unknown, what: string): readonly string[] {
  if (!Array.isArray(list)) throw new GraphError(`fn: ${what} must be an array of names, got ${describe(list)}`)
  for (const n of list) checkName(n, 'input')
  return list as string[]
}

/**
 * The names of a function's parameters, from its source text: plain identifiers only (no
 * destructuring, defaults or rest), which is what a traced function takes.
 */
function parameterNames(f: Function): string[] {
  const text = Function.prototype.toString.call(f).replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, ' ')
  const m = /\{\s*\[native code\]\s*\}\s*$/.test(text) ? null : (/^\s*(?:async\s*)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(text) ?? /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(text))
  const list = m?.[1]?.trim().replace(/,$/, '') ?? ''
  const names = list === '' ? [] : list.split(',').map((s) => s.trim())
  if (!m || names.some((n) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(n))) {
    throw new GraphError(`fn could not read input names from the function's parameters (${list || text.slice(0, 40)}): give them, as in fn(['x', 'y'], (x, y) => ...)`)
  }
  return names
}
