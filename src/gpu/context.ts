/**
 * The state one GPU engine's parts share: its device and how wavegrad's work on it fails. In: an
 * acquired device. Out: error scopes around every GPU call (guard), the engine's broken states
 * (lost, destroyed) and the calls waiting on the device, failed at once when it breaks.
 *
 * Invariants: every object creation and submission wavegrad makes sits in validation and
 * out-of-memory scopes, so an uncaptured error is someone else's: on the engine's own device that
 * cannot happen and fails the next run (never silent); on a device the caller supplied it is the
 * caller's (their listener and console see it), not ours to fail.
 */
import type { AcquiredDevice } from './device.js'
import { DeviceError } from './errors.js'

/** The error of a call whose engine was destroyed while it was in flight. */
export function destroyedInFlight(): DeviceError {
  return new DeviceError('this GPU engine was destroyed while the call was in flight; create a new one', 'destroyed')
}

export class GpuContext {
  readonly device: GPUDevice
  /** The adapter, in words; every result's `backend` says it. */
  readonly description: string
  /** A software adapter (lavapipe, SwiftShader, WARP). */
  readonly software: boolean
  readonly owned: boolean
  readonly #keepAlive: unknown
  #lost: DeviceError | undefined
  #destroyed = false
  /** Calls waiting on the device (see unlessBroken), failed at once when it is lost or the engine destroyed. */
  readonly #waiting = new Set<(e: DeviceError) => void>()
  readonly #uncaptured: string[] = []
  #lostSoon: Promise<boolean> | undefined
  readonly #onError = (e: Event) => {
    if (this.owned) this.#uncaptured.push((e as GPUUncapturedErrorEvent).error.message)
  }

  constructor(
    acquired: AcquiredDevice,
    /** Print plans and WGSL (GpuEngineOptions.debug). */
    readonly debug: boolean,
  ) {
    this.device = acquired.device
    this.description = acquired.description
    this.software = acquired.software
    this.owned = acquired.owned
    this.#keepAlive = acquired.keepAlive
    this.device.addEventListener('uncapturederror', this.#onError)
    void this.device.lost.then((info) => {
      if (this.#destroyed) return
      // Seen only where the engine does not go on on a new device (GpuEngineOptions.recover).
      this.#lost = new DeviceError(`the GPU device was lost (${info.reason}): ${info.message}; this engine could not go on on a new device (recover: false, ${3} losses within 10 s, or no device to be had): create a new engine`, 'lost')
      this.#breakWith(this.#lost)
    })
  }

  /** The DeviceError of a lost device, if it was lost. */
  get lost(): DeviceError | undefined {
    return this.#lost
  }

  get destroyed(): boolean {
    return this.#destroyed
  }

  /** Marks the engine destroyed: waiting calls fail; the device is destroyed if the engine owns it. */
  destroy(): void {
    if (this.#destroyed) return
    this.#destroyed = true
    this.#breakWith(destroyedInFlight())
    this.device.removeEventListener('uncapturederror', this.#onError)
    if (this.owned) this.device.destroy()
    void this.#keepAlive
  }

  /**
   * Whether the device is lost, or its `lost` promise settles within `ms`: a destroyed device's may
   * settle a moment after the failure it caused.
   */
  async lostSoon(ms = 100): Promise<boolean> {
    if (this.#lost) return true
    if (this.#destroyed) return false
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
    // (One reaction on the long-lived lost promise per context, not one per call.)
    const lost = await Promise.race([(this.#lostSoon ??= this.device.lost.then(() => true)), late])
    clearTimeout(timer)
    return lost
  }

  /** Throws if the engine was destroyed or its device lost. */
  check(): void {
    if (this.#destroyed) throw new DeviceError('this GPU engine was destroyed; create a new one', 'destroyed')
    if (this.#lost) throw this.#lost
  }

  /** Throws if the device was lost or reported an error nobody caught. */
  throwIfBroken(): void {
    if (this.#lost) throw this.#lost
    if (this.#uncaptured.length) throw new DeviceError(`GPU error: ${this.#uncaptured.splice(0).join('; ')}`, 'validation')
  }

  /** What a failed GPU promise (a map, a pipeline build) means: destroyed, lost, or `fallback`. */
  failure(fallback: () => DeviceError): DeviceError {
    if (this.#destroyed) return destroyedInFlight()
    return this.#lost ?? fallback()
  }

  /**
   * Runs `f` (synchronous GPU calls only: error scopes are a per-device stack, so nothing may
   * interleave) inside validation and out-of-memory scopes. Returns f's value and a promise that
   * rejects with DeviceError if either scope caught an error.
   */
  guard<T>(f: () => T, what: string): [T, Promise<void>] {
    const device = this.device
    device.pushErrorScope('validation')
    device.pushErrorScope('out-of-memory')
    let value: T | undefined
    let error: unknown
    let failed = false
    try {
      value = f()
    } catch (e) {
      failed = true
      error = e
    }
    const oom = device.popErrorScope()
    const invalid = device.popErrorScope()
    const check = Promise.all([oom, invalid]).then(([o, v]) => {
      if (o) throw new DeviceError(`${what}: out of GPU memory: ${o.message}`, 'out-of-memory')
      if (v) throw new DeviceError(`${what}: ${v.message}`, 'validation')
    })
    check.catch(() => undefined)
    if (failed) throw error
    return [value as T, check]
  }

  /**
   * `p`, unless the device is lost or the engine destroyed first (then that DeviceError). Not a
   * Promise.race against a long-lived promise: that would keep one reaction per call forever.
   */
  unlessBroken<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#waiting.add(reject)
      p.then(resolve, reject).finally(() => this.#waiting.delete(reject))
    })
  }

  #breakWith(e: DeviceError): void {
    for (const fail of this.#waiting) fail(e)
    this.#waiting.clear()
  }
}
