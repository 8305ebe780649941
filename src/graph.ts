/**
 * Graph: the hash-consed expression DAG. In: builder calls (input, constant, op application,
 * output). Out: a node list in which every node's arguments come before it (so node id order is a
 * topological order), plus named inputs and outputs.
 *
 * Invariants: identical subexpressions are one node (commutative ops are keyed with sorted
 * arguments); an op whose arguments are all constants is folded to a constant when the result is
 * finite; constants are finite; a few IEEE-exact identities are applied (x+0, x-0, x*1, x/1, x^1,
 * x^0 = 1, --x); names are identifiers that do not start with `__`.
 */
import { GraphError } from './errors.js'
import { OPS, OP_NAMES, isOpName, type OpName, type OpSpec } from './ops.js'

/** What a node is: a named input, a constant, or an op of the table. */
export type NodeKind = 'input' | 'const' | OpName

/** A number or an Expr: numbers are accepted wherever an Expr is. */
export type ExprLike = Expr | number

/** The number of arguments op K takes. */
export type Arity<K extends OpName> = (typeof OPS)[K]['arity']
type MethodOf<N, T, A> = N extends 1 ? () => T : N extends 2 ? (b: A) => T : (b: A, c: A) => T
/** One method per op of the table: `x.sin()`, `x.add(y)`, `cond.where(a, b)`. */
export type OpMethods<T, A> = { [K in OpName]: MethodOf<Arity<K>, T, A> }

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const COMMUTATIVE: ReadonlySet<NodeKind> = new Set<NodeKind>(['add', 'mul', 'eq', 'ne'])

/** Throws GraphError unless `name` can name an input or output. */
export function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new GraphError(`${what} name ${JSON.stringify(name)} is not an identifier (letters, digits, _; not starting with a digit)`)
  }
  if (name.startsWith('__')) throw new GraphError(`${what} name '${name}' may not start with '__' (reserved)`)
}

/**
 * A node of a Graph, as the builder hands it out. Has one method per op (add sub mul div pow neg
 * sqrt exp log sin cos tan tanh sigmoid relu abs min max atan2 erf log1p expm1 where lt le gt ge eq
 * ne); numbers are accepted as arguments.
 *
 * @example
 * const g = new Graph(); const x = g.input('x'); g.output('f', x.mul(x).sin().add(1))
 */
export class Expr {
  constructor(
    readonly graph: Graph,
    readonly id: number,
  ) {}

  /** The op or kind of this node. */
  get kind(): NodeKind {
    return this.graph.kind(this.id)
  }

  toString(): string {
    return `Expr#${this.id}(${this.kind})`
  }
}
export interface Expr extends OpMethods<Expr, ExprLike> {}

/** Adds the Expr method and the free function of an op (every op of the table; registerOp's too). */
export function installOp(name: OpName): void {
  Object.defineProperty(Expr.prototype, name, {
    value: function (this: Expr, ...rest: ExprLike[]) {
      return this.graph.apply(name, [this, ...rest])
    },
    writable: true,
    configurable: true,
  })
  ;(fns as Record<string, unknown>)[name] = (...args: ExprLike[]) => {
    const e = args.find((a): a is Expr => a instanceof Expr)
    if (!e) throw new GraphError(`${name}(${args.map(describe).join(', ')}): at least one argument must be an Expr of a Graph`)
    return e.graph.apply(name, args)
  }
}

/** Options for `new Graph()`. */
export interface GraphOptions {
  /**
   * Merge identical subexpressions, fold constants and apply exact identities (default true). The
   * eager `Value` turns it off so that every Value keeps a node, and so a gradient, of its own.
   */
  readonly simplify?: boolean
}

/**
 * The parameters of a graph whose names are not spelled out: any input may be one. A graph typed
 * with literal input names and no parameter list has none.
 */
export type DefaultParams<I extends string> = string extends I ? string : never

/**
 * A hash-consed expression DAG with named inputs and outputs.
 *
 * Its type parameters carry the names, so that results typed from it catch a misspelt name at
 * compile time: `I` the inputs (parameters included), `O` the outputs, `P` the parameters. A graph
 * from `parse` has `string` for each; `new Graph<'x' | 'y', 'f'>()` allows just those names, and
 * results of it have `values.f` and `jacobian.f.x`, and no `values.g`. The type parameters are a
 * promise the builder code keeps: the compiler checks every name used against them, not that each
 * is used (a declared input never created is refused as an unknown input by the run; a declared
 * output never defined is missing from the results). `fn` keeps the promise by construction.
 *
 * @example
 * const g = new Graph()
 * const x = g.input('x'), y = g.input('y')
 * g.output('f', x.sub(1).pow(2).add(y.sub(x.pow(2)).pow(2).mul(100)))
 * g.inputs  // ['x', 'y']
 */
export class Graph<I extends string = string, O extends string = string, P extends string = DefaultParams<I>> {
  readonly #kind: NodeKind[] = []
  readonly #args: (readonly number[])[] = []
  readonly #value: number[] = []
  readonly #label: (string | undefined)[] = []
  readonly #key = new Map<string, number>()
  readonly #inputs: string[] = []
  readonly #inputNode = new Map<string, number>()
  readonly #params = new Set<string>()
  readonly #outputs: string[] = []
  readonly #outputNode = new Map<string, number>()
  readonly #simplify: boolean
  #version = 0

  constructor(options: GraphOptions = {}) {
    this.#simplify = options.simplify ?? true
  }

  /** Input names in order of first use. */
  get inputs(): readonly I[] {
    return this.#inputs.slice() as I[]
  }

  /** The inputs declared with param(): one value for the whole batch, gradients summed over it. */
  get params(): readonly P[] {
    return this.#inputs.filter((n) => this.#params.has(n)) as P[]
  }

  /** Whether input `name` is a parameter (see param). */
  isParam(name: string): boolean {
    return this.#params.has(name)
  }

  /** Output names in order of definition. */
  get outputs(): readonly O[] {
    return this.#outputs.slice() as O[]
  }

  /** Number of nodes (including dead ones no output uses). */
  get nodeCount(): number {
    return this.#kind.length
  }

  /** Whether this graph merges, folds and simplifies (GraphOptions.simplify). */
  get simplifies(): boolean {
    return this.#simplify
  }

  /** Bumped by every change; caches keyed on a graph compare it. */
  get version(): number {
    return this.#version
  }

  kind(id: number): NodeKind {
    return this.#at(this.#kind, id)
  }

  args(id: number): readonly number[] {
    return this.#at(this.#args, id)
  }

  /** The value of a constant node (NaN for other nodes). */
  constValue(id: number): number {
    return this.#at(this.#value, id)
  }

  /** The name the source gave this node (input name, or the name it was assigned to), if any. */
  label(id: number): string | undefined {
    this.#at(this.#kind, id)
    return this.#label[id]
  }

  /** Node id of an input by name. */
  inputNode(name: string): number {
    const id = this.#inputNode.get(name)
    if (id === undefined) throw new GraphError(`no input named '${name}' (inputs: ${this.#inputs.join(', ') || 'none'})`)
    return id
  }

  /** Node id of an output by name. */
  outputNode(name: string): number {
    const id = this.#outputNode.get(name)
    if (id === undefined) throw new GraphError(`no output named '${name}' (outputs: ${this.#outputs.join(', ') || 'none'})`)
    return id
  }

  /** The input named `name` (the same Expr every time it is asked for; a parameter stays one). */
  input(name: I): Expr {
    checkName(name, 'input')
    const known = this.#inputNode.get(name)
    if (known !== undefined) return new Expr(this, known)
    if (this.#outputNode.has(name)) throw new GraphError(`'${name}' is already an output; it cannot also be an input`)
    const id = this.#push('input', [], NaN, `input:${name}`, false)
    this.#label[id] = name
    this.#inputs.push(name)
    this.#inputNode.set(name, id)
    return new Expr(this, id)
  }

  /**
   * A parameter: an input bound to ONE number for the whole batch (a model's weight). Results give
   * per-binding Jacobians for ordinary inputs and, for parameters, `gradients`: ∂output/∂param
   * summed over the batch (optionally weighted per binding).
   *
   * @example
   * const g = new Graph(); const x = g.input('x'), a = g.param('a')
   * g.output('loss', a.mul(x).sub(1).pow(2))   // evaluate(g, { x: xs, a: 0.3 }).gradients.loss.a
   */
  param(name: P & I): Expr {
    const known = this.#inputNode.has(name)
    const e = this.input(name)
    if (known && !this.#params.has(name)) throw new GraphError(`'${name}' is already an ordinary input; it cannot also be a parameter`)
    if (!known) {
      this.#params.add(name)
      this.#version++
    }
    return e
  }

  /** A constant node (finite numbers only). */
  constant(value: number): Expr {
    if (typeof value !== 'number') throw new GraphError(`expected a number or an Expr, got ${describe(value)}`)
    if (!Number.isFinite(value)) throw new GraphError(`constants must be finite, got ${value}`)
    return new Expr(this, this.#push('const', [], value, `const:${Object.is(value, -0) ? '-0' : value}`, true))
  }

  /** Declares `expr` (or a number) as the output `name`. */
  output(name: O, expr: ExprLike): Expr {
    checkName(name, 'output')
    if (this.#outputNode.has(name)) throw new GraphError(`output '${name}' is already defined`)
    if (this.#inputNode.has(name)) throw new GraphError(`'${name}' is an input; it cannot also be an output`)
    const e = this.#own(expr)
    this.#outputs.push(name)
    this.#outputNode.set(name, e.id)
    this.#version++
    return e
  }

  /** Gives a node a readable name (used in generated code); the first name given wins. */
  setLabel(expr: Expr, name: string): void {
    checkName(name, 'label')
    const e = this.#own(expr)
    if (this.#label[e.id] === undefined) this.#label[e.id] = name
  }

  /** Applies an op of the table to arguments (Exprs of this graph or numbers). */
  apply(op: OpName, args: readonly ExprLike[]): Expr {
    if (!isOpName(op)) throw new GraphError(`unknown op '${String(op)}'`)
    const spec: OpSpec = OPS[op]
    if (args.length !== spec.arity) throw new GraphError(`${op} takes ${spec.arity} argument(s), got ${args.length}`)
    // Every argument is checked before any constant is made: a failed call leaves the graph as it was.
    for (const a of args) this.#admit(a)
    const ids = args.map((a) => this.#own(a).id)
    return new Expr(this, this.#applyIds(op, ids, spec))
  }

  #applyIds(op: OpName, ids: number[], spec: OpSpec): number {
    if (!this.#simplify) return this.#push(op, ids, NaN, '', false)
    const k = ids.map((id) => (this.#kind[id] === 'const' ? this.#value[id]! : undefined))
    if (k.every((v) => v !== undefined)) {
      const v = spec.eval(k[0]!, k[1] ?? NaN, k[2] ?? NaN)
      if (Number.isFinite(v)) return this.constant(v).id
    }
    const simpler = this.#identity(op, ids, k)
    if (simpler !== undefined) return simpler
    if (COMMUTATIVE.has(op) && ids[0]! > ids[1]!) ids.reverse()
    return this.#push(op, ids, NaN, `${op}:${ids.join(',')}`, true)
  }

  /** IEEE-exact rewrites (up to the sign of a zero); undefined where none applies. */
  #identity(op: OpName, [a, b]: number[], [ka, kb]: (number | undefined)[]): number | undefined {
    if ((op === 'add' || op === 'sub') && kb === 0) return a
    if (op === 'add' && ka === 0) return b
    if ((op === 'mul' || op === 'div' || op === 'pow') && kb === 1) return a
    if (op === 'mul' && ka === 1) return b
    if (op === 'pow' && kb === 0) return this.constant(1).id
    if (op === 'neg' && this.#kind[a!] === 'neg') return this.#args[a!]![0]
    return undefined
  }

  #push(kind: NodeKind, args: readonly number[], value: number, key: string, share: boolean): number {
    if (share || kind === 'input') {
      const known = this.#key.get(key)
      if (known !== undefined) return known
    }
    const id = this.#kind.length
    this.#kind.push(kind)
    this.#args.push(args)
    this.#value.push(value)
    this.#label.push(undefined)
    if (share || kind === 'input') this.#key.set(key, id)
    this.#version++
    return id
  }

  #own(x: ExprLike): Expr {
    this.#admit(x)
    return typeof x === 'number' ? this.constant(x) : x
  }

  /** Throws GraphError unless `x` is a finite number or an Expr of this graph; adds nothing. */
  #admit(x: ExprLike): void {
    if (typeof x === 'number') {
      if (!Number.isFinite(x)) throw new GraphError(`constants must be finite, got ${x}`)
      return
    }
    if (!(x instanceof Expr)) throw new GraphError(`expected a number or an Expr, got ${describe(x)}`)
    if (x.graph !== this) throw new GraphError(`${x} belongs to another Graph; build each expression from one graph's inputs`)
  }

  #at<T>(list: readonly T[], id: number): T {
    if (!Number.isInteger(id) || id < 0 || id >= list.length) throw new GraphError(`no node #${id} (graph has ${list.length})`)
    return list[id]!
  }
}

/** Throws GraphError for a graph with nothing to evaluate (engines call this first). */
export function requireOutputs(graph: Graph): void {
  if (graph.outputs.length === 0) throw new GraphError('the graph has no outputs: declare one with g.output(name, expr)')
}

/** A short description of a value for error messages. */
export function describe(x: unknown): string {
  if (x === null) return 'null'
  if (x === undefined) return 'undefined'
  if (typeof x === 'function') return 'a function'
  if (Array.isArray(x)) return `an array of length ${x.length}`
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'no prototype'})`
  if (typeof x === 'string') return `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`
  return `${typeof x} ${String(x)}`
}

/** The free function of an op of N arguments. */
export type FreeFn<N> = N extends 1 ? (a: ExprLike) => Expr : N extends 2 ? (a: ExprLike, b: ExprLike) => Expr : (a: ExprLike, b: ExprLike, c: ExprLike) => Expr
/** One free function per op: `sin(x)`, `add(x, 1)`, `where(x.gt(0), x, 0)`. */
export type FreeFunctions = { [K in OpName]: FreeFn<Arity<K>> }

/**
 * Free-function forms of every op; at least one argument must be an Expr (it names the graph).
 *
 * @example
 * const { sin, mul } = fns; g.output('f', sin(mul(x, 2)))
 */
export const fns = {} as FreeFunctions
for (const name of OP_NAMES) installOp(name)
