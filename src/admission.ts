/**
 * Admission: host memory a run needs, counted before it is taken. In: the bytes a run's result
 * arrays (and copies) will take, and the engine's `maxHostBytes`. Out: nothing, or a BindingError
 * naming the bytes, how they add up, and the limit; never a RangeError from an allocation or a
 * machine swapping itself to a halt. (Device memory is admitted by tiling: plan.ts tileSize keeps
 * every buffer within the device's limits, and a refused allocation halves the tiles: run.ts.)
 */
import { BindingError } from './errors.js'

/**
 * The host limit of an engine: its `maxHostBytes`, or else the memory Node says is available now
 * (`process.availableMemory()`, which counts cgroup limits), but never less than half of a cgroup's
 * limit (in a container the available figure counts page cache the kernel would give back);
 * unbounded in a browser, where a page cannot know and an allocation too large fails alone
 * (caught: see allocate).
 */
export function hostLimit(maxHostBytes: number | undefined): number {
  if (maxHostBytes !== undefined) return maxHostBytes
  const node = (globalThis as { process?: { availableMemory?: () => number; constrainedMemory?: () => number | undefined } }).process
  if (typeof node?.availableMemory !== 'function') return Infinity
  const constrained = node.constrainedMemory?.() ?? 0
  // (No cgroup limit reads as 2^64, or 0.)
  return Math.max(node.availableMemory(), constrained > 0 && constrained < 2 ** 60 ? constrained / 2 : 0)
}

/** Checks an engine's `maxHostBytes` option: a positive number (Infinity: no limit). */
export function checkMaxHostBytes(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !(value > 0)) throw new BindingError(`maxHostBytes must be a positive number of bytes (or Infinity), got ${String(value)}`)
  return value
}

/**
 * Throws a BindingError unless `bytes` fit within `limit`. `how`: how the bytes add up, e.g.
 * "9 result rows × 4 bytes × 2^28 bindings".
 */
export function admit(bytes: number, how: string, limit: number): void {
  if (bytes <= limit) return
  throw new BindingError(`this run needs ${formatBytes(bytes)} of host memory (${how}); the limit is ${formatBytes(limit)} (the engine's maxHostBytes, by default the memory available): split the batch, or compute fewer rows ({ jacobian: false }, parameters, sumsOnly)`)
}

/** `make()`, with an allocation the JS engine refuses (RangeError) reported as what it was for and its size. */
export function allocate<T>(bytes: number, how: string, make: () => T): T {
  try {
    return make()
  } catch (e) {
    if (!(e instanceof RangeError)) throw e
    throw new BindingError(`allocating ${formatBytes(bytes)} of host memory (${how}) failed: ${e.message}; split the batch`)
  }
}

/** Bytes in binary units with three significant digits: 96 GiB, 12.4 GiB, 640 MiB (the CLI's messages too). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes)
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']
  let n = bytes
  let u = 0
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024
    u++
  }
  return u === 0 ? `${n} bytes` : `${Number(n.toPrecision(3))} ${units[u]}`
}
