/**
 * Bindings: the user's input arrays, checked against a graph. In: `{ inputName: ArrayLike<number> }`.
 * Out: one array per graph input, in input order, and the batch size B.
 *
 * Invariants: every input has exactly one array (a graph with no inputs has B = 1); no unknown names; all lengths equal; plain arrays
 * hold numbers only (typed arrays are numbers by construction). Nothing is copied here.
 */
import { BindingError } from './errors.js'
import { describe, type Graph } from './graph.js'

/** Input arrays by input name. Any ArrayLike<number> (typed arrays, number[]), all of one length. */
export type Bindings = Readonly<Record<string, ArrayLike<number>>>

export interface CheckedBindings {
  /** Batch size: the common length. */
  readonly size: number
  /** One array per graph input, in `graph.inputs` order. */
  readonly arrays: readonly ArrayLike<number>[]
}

/** Validates bindings for a graph; throws BindingError naming what is wrong. */
export function checkBindings(graph: Graph, bindings: unknown): CheckedBindings {
  if (bindings === null || typeof bindings !== 'object' || Array.isArray(bindings)) {
    throw new BindingError(`bindings must be an object mapping input names to arrays, got ${describe(bindings)}`)
  }
  const inputs = graph.inputs
  const known = new Set(inputs)
  const unknown = Object.keys(bindings).filter((k) => !known.has(k))
  if (unknown.length) {
    throw new BindingError(`unknown input${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (the graph's inputs are: ${inputs.join(', ') || 'none'})`)
  }
  const record = bindings as Record<string, unknown>
  const missing = inputs.filter((k) => !Object.prototype.hasOwnProperty.call(record, k))
  if (missing.length) throw new BindingError(`missing binding${missing.length > 1 ? 's' : ''} for ${missing.map((k) => `'${k}'`).join(', ')}`)

  let size = -1
  let first = ''
  const arrays = inputs.map((name) => {
    const a = record[name]
    if (!isArrayLike(a)) throw new BindingError(`binding '${name}' must be an array or typed array of numbers, got ${describe(a)}`)
    if (Array.isArray(a)) {
      for (let i = 0; i < a.length; i++) {
        if (typeof a[i] !== 'number') throw new BindingError(`binding '${name}'[${i}] is ${describe(a[i])}, not a number`)
      }
    }
    if (size < 0) {
      size = a.length
      first = name
    } else if (a.length !== size) {
      throw new BindingError(`bindings have unequal lengths: '${first}' has ${size}, '${name}' has ${a.length}`)
    }
    return a
  })
  // A graph without inputs has exactly one binding: the empty one.
  return { size: inputs.length === 0 ? 1 : size, arrays }
}

function isArrayLike(a: unknown): a is ArrayLike<number> {
  if (ArrayBuffer.isView(a)) return !(a instanceof DataView) && typeof (a as unknown as { length: unknown }).length === 'number' && !(a instanceof BigInt64Array || a instanceof BigUint64Array)
  return Array.isArray(a)
}
