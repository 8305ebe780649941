/**
 * Bindings: the user's inputs, checked against a graph. In: `{ inputName: source }`, where a source
 * is an array of numbers (one per binding), a number (the same for every binding), or, for the GPU
 * engine, f32 values already in a GPUBuffer. Out: one source per graph input, in input order, and
 * the batch size B.
 *
 * Invariants: every input has exactly one source; no unknown names; all arrays and buffers have one
 * length B ≤ MAX_BATCH (only numbers, or no inputs at all: B = 1); plain arrays hold numbers only
 * (NaN and ±Infinity are numbers); a buffer range lies inside its buffer.
 * Nothing is copied here.
 */
import { BindingError } from './errors.js'
import { describe, type Graph } from './graph.js'

/**
 * f32 values already on the GPU: `length` consecutive floats from byte `offset` (default 0, a
 * multiple of 4). The buffer needs GPUBufferUsage.COPY_SRC; the GPU engine copies from it, it never
 * writes it.
 */
export interface GpuBinding {
  readonly buffer: GPUBuffer
  readonly offset?: number
  readonly length: number
}

/** What one input may be bound to: one number per binding, one number for all, or a GPU buffer. */
export type BindingSource = ArrayLike<number> | number | GpuBinding

/** Input sources by input name (`I`: the graph's input names; see Graph). */
export type Bindings<I extends string = string> = Readonly<Record<I, BindingSource>>

export interface CheckedBindings {
  /** Batch size: the common length. */
  readonly size: number
  /** One source per graph input, in `graph.inputs` order. */
  readonly sources: readonly BindingSource[]
}

/** True for a GpuBinding (duck-typed: Node's Dawn has no GPUBuffer global). */
export function isGpuBinding(x: unknown): x is GpuBinding {
  const b = (x as { buffer?: unknown } | null)?.buffer as { mapAsync?: unknown; size?: unknown } | undefined
  return typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && typeof b?.mapAsync === 'function' && typeof b.size === 'number'
}

/**
 * Validates bindings for a graph; throws BindingError naming what is wrong. `gpu`: whether GPU
 * buffer sources are acceptable (only the GPU engine reads them).
 */
export function checkBindings(graph: Graph, bindings: unknown, gpu = false): CheckedBindings {
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
  const sources = inputs.map((name): BindingSource => {
    const a = record[name]
    if (typeof a === 'number') return a
    if (graph.isParam(name)) throw new BindingError(`'${name}' is a parameter: bind it to one number for the whole batch, got ${describe(a)}`)
    let length: number
    if (isGpuBinding(a)) {
      if (!gpu) throw new BindingError(`binding '${name}' is a GPUBuffer: only the GPU engine reads those (evaluateCpu needs an array)`)
      checkGpuBinding(name, a)
      length = a.length
    } else if (isArrayLike(a)) {
      checkLength(name, a.length)
      if (!ArrayBuffer.isView(a)) {
        for (let i = 0; i < a.length; i++) {
          if (typeof a[i] !== 'number') throw new BindingError(`binding '${name}'[${i}] is ${describe(a[i])}, not a number`)
        }
      }
      length = a.length
    } else {
      const length = (a as { length?: unknown } | null)?.length
      const why = typeof a === 'object' && a !== null && typeof length === 'number' && !ArrayBuffer.isView(a) ? ` whose length ${describe(length)} is not a non-negative integer` : ''
      throw new BindingError(`binding '${name}' must be an array or typed array of numbers, a number, or { buffer, length }, got ${describe(a)}${why}`)
    }
    if (size < 0) {
      size = length
      first = name
    } else if (length !== size) {
      throw new BindingError(`bindings have unequal lengths: '${first}' has ${size}, '${name}' has ${length}`)
    }
    return a
  })
  // Only numbers (or no inputs at all): exactly one binding.
  return { size: size < 0 ? 1 : size, sources }
}

/**
 * Most bindings one call takes: the longest JavaScript array. Checked before any element is read,
 * so an array-like claiming 2^40 elements fails at once instead of being scanned for hours.
 */
export const MAX_BATCH = 2 ** 32 - 1

function checkLength(name: string, length: number): void {
  if (length > MAX_BATCH) {
    throw new BindingError(`binding '${name}' has ${length} elements, more than one call takes (${MAX_BATCH}); split the batch into several calls`)
  }
}

function checkGpuBinding(name: string, a: GpuBinding): void {
  const offset = a.offset ?? 0
  if (!Number.isInteger(a.length) || a.length < 0) throw new BindingError(`binding '${name}': length must be a non-negative integer, got ${a.length}`)
  checkLength(name, a.length)
  // A duck-typed look-alike would reach WebGPU and fail there with a bare TypeError. (A real buffer
  // without COPY_SRC is left to WebGPU's validation: a DeviceError naming the missing usage.)
  const usage = (a.buffer as { usage?: unknown }).usage
  if (typeof usage !== 'number') throw new BindingError(`binding '${name}': { buffer } must be a GPUBuffer (created by device.createBuffer), got ${describe(a.buffer)}`)
  if (!Number.isInteger(offset) || offset < 0 || offset % 4 !== 0) throw new BindingError(`binding '${name}': offset must be a non-negative multiple of 4 bytes, got ${offset}`)
  if (offset + 4 * a.length > a.buffer.size) {
    throw new BindingError(`binding '${name}': ${a.length} floats from byte ${offset} run past the end of its ${a.buffer.size}-byte buffer`)
  }
}

/** Arrays, number typed arrays, and any other object with an integer length (DESIGN: ArrayLike). */
function isArrayLike(a: unknown): a is ArrayLike<number> {
  if (ArrayBuffer.isView(a)) return !(a instanceof DataView) && !(a instanceof BigInt64Array || a instanceof BigUint64Array)
  if (Array.isArray(a)) return true
  const length = (a as { length?: unknown } | null)?.length
  return typeof a === 'object' && a !== null && typeof length === 'number' && Number.isInteger(length) && length >= 0
}
