/**
 * Named error classes. Every error wavegrad raises on purpose is one of these, so callers can tell
 * bad input (ParseError, GraphError, BindingError) from GPU trouble (ShaderError, DeviceError).
 */

/** Base class of every wavegrad error. */
export class WavegradError extends Error {
  override name = 'WavegradError'
}

/**
 * Malformed source text. `line` and `column` are 1-based; `source` is the offending line; the
 * message ends with that line and a caret under the column.
 *
 * @example
 * try { parse('f = (x + 1') } catch (e) { if (e instanceof ParseError) console.log(e.line, e.column) }
 */
export class ParseError extends WavegradError {
  override name = 'ParseError'
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly source: string,
  ) {
    super(`${reason} at ${line}:${column}\n  ${source}\n  ${' '.repeat(Math.max(0, column - 1))}^`)
  }
}

/** A graph that cannot be built or evaluated as asked (foreign node, bad name, no outputs, ...). */
export class GraphError extends WavegradError {
  override name = 'GraphError'
}

/** Bindings that do not fit the graph: missing or unknown names, unequal lengths, non-numbers. */
export class BindingError extends WavegradError {
  override name = 'BindingError'
}
