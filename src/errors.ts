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
 * message ends with that line (cut to ~100 characters around the column when longer) and a caret
 * under the column.
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
    const [text, caret] = excerpt(source, column)
    super(`${reason} at ${line}:${column}\n  ${text}\n  ${' '.repeat(caret)}^`)
  }
}

/** Longest source line a ParseError message quotes whole; longer ones are cut around the column. */
const QUOTE_WIDTH = 100

/** The part of `line` a message quotes, and the caret's offset in it (a 10^6-character line stays readable). */
function excerpt(line: string, column: number): [string, number] {
  const at = Math.max(0, column - 1)
  if (line.length <= QUOTE_WIDTH) return [line, at]
  const start = Math.max(0, Math.min(at - QUOTE_WIDTH / 2, line.length - QUOTE_WIDTH))
  const end = start + QUOTE_WIDTH
  const head = start > 0 ? '…' : ''
  return [`${head}${line.slice(start, end)}${end < line.length ? '…' : ''}`, at - start + head.length]
}

/** A graph that cannot be built or evaluated as asked (foreign node, bad name, no outputs, ...). */
export class GraphError extends WavegradError {
  override name = 'GraphError'
}

/** Bindings that do not fit the graph: missing or unknown names, unequal lengths, non-numbers. */
export class BindingError extends WavegradError {
  override name = 'BindingError'
}
