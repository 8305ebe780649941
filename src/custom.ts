/**
 * Custom ops. In: a name and what the op table holds for a built-in op (float64 value, WGSL value,
 * optionally WGSL helper functions, and its partial derivatives as graph expressions). Out: the op
 * is part of the table: parse() knows it as a function, Expr and Value have it as a method, `fns`
 * as a free function, and every engine evaluates it — and differentiates it, through its
 * derivative rules, exactly like a built-in (test/gpu/custom.test.ts runs the table-driven checks on
 * registered ops).
 *
 * Invariants: an op is registered once, for the life of the program (the table only grows, so
 * compiled kernels and interpreter tapes stay valid); a bad spec is refused (GraphError naming the
 * field) before anything changes; a WGSL mistake shows up as a ShaderError when a kernel using the
 * op is compiled; an op registered without derivatives evaluates values only (a Jacobian through it
 * is a GraphError naming it).
 */
import { MAX_OPS } from './codegen/interpreter.js'
import { GraphError } from './errors.js'
import { Expr, fns, installOp, type ExprLike } from './graph.js'
import { addOp, isOpName, OP_NAMES, type Derivative, type EvalFn, type HelperName, type OpName, type OpSpec, type WgslFn } from './ops.js'
import { Value } from './value.js'

export interface CustomOpSpec {
  readonly arity: 1 | 2 | 3
  readonly doc?: string
  /** Float64 value of the op. */
  readonly eval: EvalFn
  /** WGSL f32 expression of the value, from the arguments' WGSL names. */
  readonly wgsl: WgslFn
  /**
   * derivatives[i] = ∂out/∂arg_i: `(args, out) => ExprLike`, built from the argument Exprs and the
   * op's own output (e.g. `([a]) => a.cos()`), or a number where it is constant (0: no term).
   * Every Jacobian, gradient, JVP and Hessian through the op comes from these.
   */
  readonly derivatives?: readonly Derivative[]
  /**
   * WGSL functions the formulas call, as source text. Each function's name must start with
   * `op_<name>_` or be `op_<name>` (so that ops cannot clash); they are emitted once per kernel.
   */
  readonly wgslFunctions?: string
  /** Built-in helpers the formulas call (e.g. 'wg_sigmoid', 'wg_log'). */
  readonly helpers?: readonly HelperName[]
  /** Where tests sample each argument (default [-2, 2]). */
  readonly domain?: readonly (readonly [number, number])[]
}

const NAME = /^[a-z_][a-z0-9_]*$/i
/** Names that would shadow a property every Expr or Value has. */
const TAKEN = new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Expr.prototype), ...Object.getOwnPropertyNames(Value.prototype), 'graph', 'id', 'data', 'grad'])

/**
 * Adds an op to the table. Returns its free function (also `fns[name]`, `expr[name](...)`).
 *
 * @example
 * const softplus = registerOp('softplus', {
 *   arity: 1, eval: (a) => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a))),
 *   wgsl: ([a]) => `op_softplus(${a})`,
 *   wgslFunctions: 'fn op_softplus(a: f32) -> f32 { return max(a, 0.0) + log(1.0 + exp(-abs(a))); }',
 *   derivatives: [([a]) => a.sigmoid()],   // d/da softplus a = σ(a)
 * })
 * parse('f = softplus(x) * 2')   // or: g.output('f', softplus(x).mul(2))
 */
export function registerOp(name: string, spec: CustomOpSpec): (...args: ExprLike[]) => Expr {
  check(name, spec)
  const helperName = spec.wgslFunctions !== undefined ? (`op_${name}` as const) : undefined
  const none = () => {
    throw new GraphError(`op '${name}' was registered without derivatives: it evaluates values only (jacobian: false); give registerOp(..., { derivatives }) to differentiate through it`)
  }
  const entry: OpSpec = {
    arity: spec.arity,
    doc: spec.doc ?? `custom op ${name}`,
    eval: spec.eval,
    wgsl: spec.wgsl,
    derivatives: spec.derivatives ?? Array.from({ length: spec.arity }, () => none),
    helpers: [...(spec.helpers ?? []), ...(helperName ? [helperName] : [])],
    domain: spec.domain ?? Array.from({ length: spec.arity }, () => [-2, 2] as const),
  }
  addOp(name, entry, helperName, spec.wgslFunctions)
  installOp(name as OpName)
  Value.installOp(name as OpName)
  return (fns as unknown as Record<string, (...args: ExprLike[]) => Expr>)[name]!
}

/** Throws GraphError naming the first thing wrong with a registration; changes nothing. */
function check(name: string, spec: CustomOpSpec): void {
  if (typeof name !== 'string' || !NAME.test(name)) throw new GraphError(`op name ${JSON.stringify(name)} is not an identifier`)
  if (isOpName(name)) throw new GraphError(`op '${name}' already exists (${OP_NAMES.length} ops are registered); pick another name`)
  if (OP_NAMES.length >= MAX_OPS) throw new GraphError(`the op table is full (${MAX_OPS} ops, the interpreter's opcode space); op '${name}' was not added`)
  if (TAKEN.has(name) || name.startsWith('__')) throw new GraphError(`op name '${name}' would shadow a property of Expr or Value; pick another name`)
  if (typeof spec !== 'object' || spec === null) throw new GraphError(`registerOp('${name}', spec): spec must be an object`)
  if (spec.arity !== 1 && spec.arity !== 2 && spec.arity !== 3) throw new GraphError(`op '${name}': arity must be 1, 2 or 3, got ${String(spec.arity)}`)
  if (typeof spec.eval !== 'function') throw new GraphError(`op '${name}': eval must be a function`)
  if (typeof spec.wgsl !== 'function') throw new GraphError(`op '${name}': wgsl must be a function of the argument names`)
  for (const old of ['partials', 'wgslPartials'] as const) {
    if (old in spec) throw new GraphError(`op '${name}': '${old}' is no longer read (every engine differentiates through symbolic rules now); give derivatives: one (args, out) => Expr or number per argument`)
  }
  const d = spec.derivatives
  if (d !== undefined && (!Array.isArray(d) || d.length !== spec.arity || !d.every((f) => typeof f === 'function' || (typeof f === 'number' && Number.isFinite(f))))) {
    throw new GraphError(`op '${name}': derivatives must be ${spec.arity} entr${spec.arity === 1 ? 'y' : 'ies'}, one per argument: a function (args, out) => Expr or a finite number`)
  }
  if (spec.domain !== undefined && (!Array.isArray(spec.domain) || spec.domain.length !== spec.arity || !spec.domain.every((d) => Array.isArray(d) && d.length === 2 && d[0] < d[1]))) {
    throw new GraphError(`op '${name}': domain must be ${spec.arity} interval(s) [lo, hi] with lo < hi`)
  }
  if (spec.wgslFunctions !== undefined) {
    if (typeof spec.wgslFunctions !== 'string') throw new GraphError(`op '${name}': wgslFunctions must be WGSL source text`)
    for (const [, fn] of spec.wgslFunctions.matchAll(/\bfn\s+([A-Za-z_][A-Za-z0-9_]*)/g)) {
      if (fn !== `op_${name}` && !fn!.startsWith(`op_${name}_`)) throw new GraphError(`op '${name}': WGSL function '${fn}' must be named op_${name} or op_${name}_…`)
    }
  }
  // The float64 formulas must run: a number at the middle of the domain (NaN is a number).
  const mid = (spec.domain ?? []).map(([lo, hi]) => (lo + hi) / 2)
  const at = [mid[0] ?? 0.5, mid[1] ?? 0.5, mid[2] ?? 0.5] as const
  const v = spec.eval(at[0], at[1], at[2])
  if (typeof v !== 'number') throw new GraphError(`op '${name}': eval returned ${typeof v}, not a number`)
}
