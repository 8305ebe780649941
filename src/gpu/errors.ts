/**
 * GPU error classes: ShaderError (generated WGSL rejected, with line:column and the source lines
 * around it) and DeviceError (no adapter, device lost, validation or out-of-memory errors).
 */
import { WavegradError } from '../errors.js'

/** One message of GPUCompilationInfo, reduced to what a reader needs. */
export interface ShaderMessage {
  readonly type: string
  readonly line: number
  readonly column: number
  readonly message: string
}

/**
 * The GPU compiler rejected WGSL. `line`/`column` point into `source` (1-based); the message quotes
 * the offending line with a caret.
 */
export class ShaderError extends WavegradError {
  override name = 'ShaderError'
  readonly line: number
  readonly column: number
  constructor(
    readonly messages: readonly ShaderMessage[],
    readonly source: string,
  ) {
    const first = messages.find((m) => m.type === 'error') ?? messages[0]
    const line = first?.line ?? 0
    const column = first?.column ?? 0
    const text = source.split('\n')[line - 1] ?? ''
    super(
      `WGSL compilation failed at ${line}:${column}: ${first?.message ?? 'unknown error'}\n  ${text}\n  ${' '.repeat(Math.max(0, column - 1))}^` +
        (messages.length > 1 ? `\n(${messages.length - 1} more message(s): ${messages.slice(1).map((m) => `${m.line}:${m.column} ${m.message}`).join('; ')})` : ''),
    )
    this.line = line
    this.column = column
  }
}

/** What went wrong on the device, for code that reacts (e.g. retrying with smaller tiles). */
export type DeviceErrorReason = 'no-adapter' | 'lost' | 'destroyed' | 'out-of-memory' | 'validation' | 'internal'

/** The WebGPU device is missing, lost, or reported an error (validation, out of memory, internal). */
export class DeviceError extends WavegradError {
  override name = 'DeviceError'
  constructor(
    message: string,
    readonly reason: DeviceErrorReason = 'internal',
  ) {
    super(message)
  }
}
