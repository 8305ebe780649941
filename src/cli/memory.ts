/**
 * Host memory a CLI run needs, checked before anything large is allocated. In: what the run holds
 * per binding (input columns, result rows, each with its bytes per number), the batch size, fixed
 * buffers, and the limit (--max-memory, or a share of the memory this process can have). Out:
 * nothing, or a MemoryError that names what the run would need, how that adds up, and the limit.
 *
 * Invariant: every array the CLI allocates with one element per binding is one term here; a term
 * forgotten is a run that the check waves through and the kernel kills.
 */
import { formatBytes } from '../admission.js'
import { constants } from 'node:buffer'
import { freemem, totalmem } from 'node:os'

/** A run that would need more memory than allowed, or arrays longer than JavaScript can make (exit 1). */
export class MemoryError extends Error {
  override name = 'MemoryError'
}

/** `count` arrays of `bytes`-byte numbers, one number per binding: e.g. 6 result rows × 4 bytes. */
export interface MemoryTerm {
  readonly count: number
  readonly bytes: number
  readonly what: string
}

/** Elements a typed array can hold in this Node (2^32 on Node 20). */
export const MAX_ARRAY_LENGTH: number = constants.MAX_LENGTH

/** Share of the available memory a run may take by default (the rest: the process, the OS, the page cache). */
const DEFAULT_SHARE = 0.75

/**
 * The default --max-memory: 3/4 of the memory available now (os.freemem, which on Linux counts
 * reclaimable cache), or of the cgroup's limit where that is smaller.
 *
 * @example
 * defaultMemoryLimit()   // 12.4 GiB on a machine with 16.5 GiB available
 */
export function defaultMemoryLimit(): number {
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.()
  const available = Math.min(freemem(), totalmem(), constrained && constrained > 0 ? constrained : Infinity)
  return Math.floor(DEFAULT_SHARE * available)
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }

/**
 * Parses a --max-memory value: bytes, or with a binary unit (512M, 12G, 1.5GiB, 2T), or a
 * percentage of the machine's total memory (50%). Undefined when it is none of those.
 *
 * @example
 * parseMemory('12G')   // 12884901888
 */
export function parseMemory(text: string): number | undefined {
  const t = text.trim().toLowerCase()
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t)
  if (pct) {
    const p = Number(pct[1])
    return p > 0 && p <= 100 ? Math.floor((p / 100) * totalmem()) : undefined
  }
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*([kmgt]?)(?:i?b)?$/.exec(t)
  if (!m) return undefined
  const n = Number(m[1]) * UNITS[m[2]!]!
  return Number.isFinite(n) && n >= 1 ? Math.floor(n) : undefined
}

/** (The library's: its admission errors and the CLI's read alike.) */
export { formatBytes }

/** Total bytes of the terms for `size` bindings, plus `fixed`. */
export function hostBytes(terms: readonly MemoryTerm[], size: number, fixed = 0): number {
  return terms.reduce((s, t) => s + t.count * t.bytes * size, fixed)
}

/** How the terms add up, in words: `(3 inputs + 9 rows) × 4 bytes` or `(2 inputs × 8 bytes + 6 rows × 4 bytes)`. */
export function explainTerms(terms: readonly MemoryTerm[]): string {
  const used = terms.filter((t) => t.count > 0)
  if (!used.length) return '0 bytes'
  const plural = (t: MemoryTerm) => `${t.count} ${t.count === 1 ? t.what.replace(/s$/, '') : t.what}`
  const sizes = new Set(used.map((t) => t.bytes))
  if (sizes.size === 1) {
    const list = used.map(plural).join(' + ')
    return `${used.length > 1 ? `(${list})` : list} × ${used[0]!.bytes} bytes`
  }
  return `(${used.map((t) => `${plural(t)} × ${t.bytes} bytes`).join(' + ')})`
}

/**
 * Throws MemoryError when `size` bindings of `terms` plus `fixed` bytes exceed `limit`, or when one
 * array would be longer than a typed array can be. `label` says what asked for the bindings
 * (`--batch 2^32`, `--inputs big.npy`).
 *
 * @example
 * checkMemory('--batch 2^32', [{ count: 3, bytes: 4, what: 'inputs' }], 2 ** 32, 0, 8 * 2 ** 30)
 * // MemoryError: --batch 2^32 needs 48 GiB of host memory: 3 inputs × 4 bytes × 4,294,967,296 bindings; the limit is 8 GiB (--max-memory)
 */
export function checkMemory(label: string, terms: readonly MemoryTerm[], size: number, fixed: number, limit: number): void {
  const need = hostBytes(terms, size, fixed)
  const tooLong = size > MAX_ARRAY_LENGTH
  if (need <= limit && !tooLong) return
  const parts: string[] = []
  if (need > limit) {
    const extra = fixed > 0 ? ` + ${formatBytes(fixed)} of buffers` : ''
    parts.push(`${label} needs ${formatBytes(need)} of host memory: ${explainTerms(terms)} × ${size.toLocaleString('en-US')} bindings${extra}; the limit is ${formatBytes(limit)} (--max-memory)`)
  }
  if (tooLong) parts.push(`${parts.length ? 'and ' : `${label}: `}${size.toLocaleString('en-US')} bindings are more than one JavaScript typed array holds (${MAX_ARRAY_LENGTH.toLocaleString('en-US')} numbers)`)
  throw new MemoryError(parts.join('; '))
}
