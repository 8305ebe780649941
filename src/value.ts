/**
 * Value: the seed notebook's eager scalar, done correctly. In: numbers and op method calls. Out:
 * `.data` computed at once (float64, from the op table), and after `backward()` a `.grad` on every
 * Value reached.
 *
 * Method: backward() walks the Values reachable from the root iteratively (no recursion: a 10⁶-long
 * chain is fine), rebuilds them as a Graph with simplification off (every Value keeps its own node),
 * takes every node's adjoint from the one reverse sweep (autodiff.ts) and evaluates those with the
 * CPU reference, so a node reached along two paths is counted once with the sum of both
 * contributions, never twice.
 */
import { adjoints, copyNodes, partialsOf } from './autodiff.js'
import { GraphError } from './errors.js'
import { Graph, describe, type Expr, type OpMethods } from './graph.js'
import { levelize } from './levelize.js'
import { OPS, OP_NAMES, type OpName, type OpSpec } from './ops.js'
import { valuesAt } from './reference.js'

export interface BackwardOptions {
  /** Add this call's gradients to the existing `.grad`s instead of replacing them (default false). */
  readonly accumulate?: boolean
}

/**
 * An eager scalar that records how it was computed.
 *
 * @example
 * const a = new Value(3)
 * const e = a.mul(4).add(3).mul(a.add(2))
 * e.backward()
 * e.data  // 75
 * a.grad  // 35
 */
export class Value {
  /** d(root)/d(this) from the last backward() that reached this Value; 0 before that. */
  grad = 0
  #op: OpName | undefined
  #args: readonly (Value | number)[] = []

  /** A leaf Value (the op methods make the others). */
  constructor(readonly data: number) {
    if (typeof data !== 'number') throw new GraphError(`Value expects a number, got ${describe(data)}`)
  }

  static {
    for (const name of OP_NAMES) Value.installOp(name)
  }

  /**
   * Adds the Value method of an op (every op of the table at load; registerOp's later). Inside the
   * class so that the method can record how a Value was made.
   */
  static installOp(name: OpName): void {
    {
      const spec = OPS[name] as OpSpec
      Object.defineProperty(Value.prototype, name, {
        value: function (this: Value, ...rest: (Value | number)[]) {
          const args = [this, ...rest]
          if (args.length !== spec.arity) throw new GraphError(`${name} takes ${spec.arity} argument(s), got ${args.length}`)
          const nums = args.map((a) => {
            if (a instanceof Value) return a.data
            if (typeof a === 'number') return a
            throw new GraphError(`${name}: expected a Value or a number, got ${describe(a)}`)
          })
          const v = new Value(spec.eval(nums[0]!, nums[1] ?? NaN, nums[2] ?? NaN))
          v.#op = name
          v.#args = args
          return v
        },
        writable: true,
        configurable: true,
      })
    }
  }

  /** The op that produced this Value, or undefined for a leaf. */
  get op(): OpName | undefined {
    return this.#op
  }

  /** The Values (and numbers) this Value was computed from. */
  get args(): readonly (Value | number)[] {
    return this.#args
  }

  /**
   * Sets `.grad` = d(this)/d(v) on every Value v this one was computed from (and 1 on itself).
   */
  backward(options: BackwardOptions = {}): void {
    const reached = topologicalOrder(this)
    const graph = new Graph({ simplify: false })
    const node = new Map<Value, Expr>()
    const leafData: number[] = []
    // A graph constant must be finite; a non-finite number the eager computation accepted (x * Infinity)
    // becomes an input node instead, so backward() follows the same IEEE arithmetic as `.data` did.
    const number = (a: number): Expr | number => {
      if (Number.isFinite(a)) return a
      leafData.push(a)
      return graph.input(`v${leafData.length - 1}`)
    }
    for (const v of reached) {
      if (v.#op === undefined) {
        node.set(v, graph.input(`v${leafData.length}`))
        leafData.push(v.data)
      } else {
        node.set(v, graph.apply(v.#op, v.#args.map((a) => (typeof a === 'number' ? number(a) : node.get(a)!))))
      }
    }
    const root = node.get(this)!
    graph.output('root', root)
    // The adjoints, as nodes of a copy of the graph (no simplification there either), then their values.
    const levels = levelize(graph)
    const copy = new Graph({ simplify: false })
    const map = copyNodes(graph, levels, copy, (name) => copy.input(name))
    const adj = adjoints(graph, levels, root.id, partialsOf(graph, copy, map), copy)
    const terms = reached.map((v) => adj.get(node.get(v)!.id) ?? 0)
    const nodes = terms.map((t) => (typeof t === 'number' ? copy.constant(t) : t).id)
    const grads = valuesAt(levelize(copy, nodes), leafData, nodes)
    reached.forEach((v, i) => {
      v.grad = options.accumulate ? v.grad + grads[i]! : grads[i]!
    })
  }

  toString(): string {
    return `Value(data=${this.data}, grad=${this.grad})`
  }
}
export interface Value extends OpMethods<Value, Value | number> {}

/** Values reachable from `root`, every one after all Values it was computed from (iterative DFS). */
function topologicalOrder(root: Value): Value[] {
  const order: Value[] = []
  const seen = new Set<Value>([root])
  const stack: [Value, number][] = [[root, 0]]
  while (stack.length) {
    const top = stack[stack.length - 1]!
    const [v, i] = top
    const args = v.args
    if (i < args.length) {
      top[1]++
      const a = args[i]
      if (a instanceof Value && !seen.has(a)) {
        seen.add(a)
        stack.push([a, 0])
      }
    } else {
      stack.pop()
      order.push(v)
    }
  }
  return order
}
