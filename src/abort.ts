/**
 * Long runs: cancellation (AbortSignal), progress reports, and disposal of engines. In: the
 * `signal` and `onProgress` a caller gives a run. Out: checks the engines call between tiles or
 * blocks of bindings, and awaits that stop when the signal fires.
 *
 * An aborted run rejects with the signal's reason: a DOMException named 'AbortError' unless the
 * caller gave another reason to `controller.abort(reason)`.
 */
import { BindingError } from './errors.js'
import { describe } from './graph.js'

declare global {
  // Symbol.dispose and Symbol.asyncDispose (explicit resource management: `using`, `await using`)
  // for consumers whose TypeScript lib does not declare them yet; identical to lib.esnext.disposable.
  interface SymbolConstructor {
    readonly dispose: unique symbol
    readonly asyncDispose: unique symbol
  }
}

/** How far a run is: `done` of `total` bindings computed (and, on the GPU, read back). */
export interface Progress {
  readonly done: number
  readonly total: number
}

/** Options every engine's runs take for long work. */
export interface LongRunOptions {
  /** Stops the run: it rejects with the signal's reason; tiles (or blocks) not yet started are skipped. */
  readonly signal?: AbortSignal
  /** Called as tiles (GPU) or blocks (CPU) of bindings finish; `done` grows to `total`. */
  readonly onProgress?: (progress: Progress) => void
}

/** The checked `signal` and `onProgress` of a run's options; throws BindingError for anything else. */
export function longRun(options: LongRunOptions): { signal: AbortSignal | undefined; onProgress: ((progress: Progress) => void) | undefined } {
  const { signal, onProgress } = options
  if (signal !== undefined && !isSignal(signal)) throw new BindingError(`signal must be an AbortSignal, got ${describe(signal)}`)
  if (onProgress !== undefined && typeof onProgress !== 'function') throw new BindingError(`onProgress must be a function, got ${describe(onProgress)}`)
  signal?.throwIfAborted()
  // One filter per call: whatever attempts a run takes (retries after an allocation failure or a
  // device loss), the caller never sees progress go back.
  return { signal, onProgress: onProgress && forwardOnly(onProgress) }
}

/** Duck-typed: an AbortSignal from another realm (a Node polyfill, an iframe) is one too. */
function isSignal(x: unknown): x is AbortSignal {
  const s = x as Partial<AbortSignal> | null
  return typeof s === 'object' && s !== null && typeof s.aborted === 'boolean' && typeof s.addEventListener === 'function' && typeof s.throwIfAborted === 'function'
}

/** `promise`, or the signal's reason as soon as it fires (the work behind the promise goes on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', abort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', abort)
        resolve(value)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort)
        reject(e as Error)
      },
    )
  })
}

/**
 * onProgress, told only where `done` passes what it was told before: a retried attempt (after an
 * allocation failure or a device loss, or a CPU run falling back from its threads) counts from 0
 * again without the caller seeing progress go back.
 */
export function forwardOnly(onProgress: (progress: Progress) => void): (progress: Progress) => void {
  let told = 0
  return (progress) => {
    if (progress.done <= told) return
    told = progress.done
    onProgress(progress)
  }
}

/**
 * A macrotask's pause, so that an abort (a click, a timer) can be delivered during CPU work:
 * setImmediate in Node, a MessageChannel message in browsers (nested setTimeout(0) calls are
 * clamped to 4 ms there).
 */
export function pause(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void }
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve))
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const channel = new MessageChannel()
      channel.port1.onmessage = () => {
        channel.port1.close()
        resolve()
      }
      channel.port2.postMessage(undefined)
    })
  }
  return new Promise((resolve) => setTimeout(resolve, 0))
}
