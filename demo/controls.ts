/**
 * Page controls that hold no evaluation logic: the parameter sliders (one per program input other
 * than x and y, values kept across edits) and the inline error box (a ParseError shows its line
 * with a caret under the column).
 */
import { ParseError } from 'wavegrad'
import { DEFAULT_PARAM, type ParamSpec } from './examples.js'

/**
 * One slider per parameter; `onInput` runs on every move.
 *
 * @example
 * const sliders = new ParamSliders(box, redraw); sliders.reset(example.params); sliders.sync(['a']); sliders.values() // { a: 100 }
 */
export class ParamSliders {
  readonly #container: HTMLElement
  readonly #onInput: () => void
  #specs: Readonly<Record<string, ParamSpec>> = {}
  readonly #values = new Map<string, number>()
  readonly #rows = new Map<string, { row: HTMLElement; input: HTMLInputElement }>()

  constructor(container: HTMLElement, onInput: () => void) {
    this.#container = container
    this.#onInput = onInput
  }

  /** A new example: its slider ranges and start values replace everything. */
  reset(specs: Readonly<Record<string, ParamSpec>>): void {
    this.#specs = specs
    this.#values.clear()
    for (const { row } of this.#rows.values()) row.remove()
    this.#rows.clear()
  }

  /** Shows exactly these sliders, in this order; a known name keeps its value. */
  sync(names: readonly string[]): void {
    for (const [name, { row }] of this.#rows) {
      if (!names.includes(name)) {
        row.remove()
        this.#rows.delete(name)
      }
    }
    for (const name of names) this.#container.append(this.#rows.get(name)?.row ?? this.#create(name))
  }

  /** Current values of the shown sliders. */
  values(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const name of this.#rows.keys()) out[name] = this.#values.get(name) ?? DEFAULT_PARAM.value
    return out
  }

  /** Moves a slider as the user would (the page re-evaluates through onInput). */
  set(name: string, value: number): void {
    const entry = this.#rows.get(name)
    if (!entry) throw new Error(`no parameter '${name}' (sliders: ${[...this.#rows.keys()].join(', ') || 'none'})`)
    entry.input.value = String(value)
    entry.input.dispatchEvent(new Event('input'))
  }

  #create(name: string): HTMLElement {
    const spec = this.#specs[name] ?? DEFAULT_PARAM
    const value = this.#values.get(name) ?? spec.value
    this.#values.set(name, value)
    const row = document.createElement('label')
    row.className = 'param'
    const title = document.createElement('span')
    title.className = 'param-name'
    title.textContent = name
    const input = document.createElement('input')
    Object.assign(input, { type: 'range', min: String(spec.min), max: String(spec.max), step: String(spec.step), value: String(value) })
    input.dataset['param'] = name
    const shown = document.createElement('output')
    shown.textContent = format(value)
    input.addEventListener('input', () => {
      const v = Number(input.value)
      this.#values.set(name, v)
      shown.textContent = format(v)
      this.#onInput()
    })
    row.append(title, input, shown)
    this.#rows.set(name, { row, input })
    return row
  }
}

function format(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2)
}

/**
 * Shows an error under the editor. A ParseError: "ParseError at line:column — reason", then the
 * offending line of `source` with a caret under the column.
 */
export function showError(box: HTMLElement, source: string, error: unknown): void {
  box.hidden = false
  if (error instanceof ParseError) {
    const text = source.split('\n')[error.line - 1] ?? error.source
    const gutter = `${error.line} | `
    box.textContent = [
      `ParseError at ${error.line}:${error.column} — ${error.reason}`,
      `${gutter}${text}`,
      `${' '.repeat(gutter.length - 2)}| ${' '.repeat(Math.max(0, error.column - 1))}^`,
    ].join('\n')
    return
  }
  box.textContent = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** Hides the error box. */
export function clearError(box: HTMLElement): void {
  box.hidden = true
  box.textContent = ''
}
