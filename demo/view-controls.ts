/**
 * The view's controls: drag on the canvas to pan (Pointer Events, so mouse, pen and touch alike),
 * the wheel to zoom about the cursor, four range inputs and a reset button. In: DOM events. Out:
 * `onChange(view)` with every new view that passed checkView; an invalid typed range shows its
 * reason inline and changes nothing.
 *
 * The canvas may be replaced (the CPU fallback needs a fresh one), so the listeners sit on the
 * stage around it and act on events whose target is a canvas.
 */
import type { View } from './examples.js'
import { checkView, orKeep, panView, ZOOM_PIXELS, zoomView } from './view.js'

/** The four range inputs, by the View field each edits. */
export type RangeInputs = Readonly<Record<keyof View, HTMLInputElement>>

const FIELDS = ['x0', 'x1', 'y0', 'y1'] as const
/** Wheel deltaMode 1 (lines) in pixels, as browsers scroll a line. */
const LINE_PIXELS = 16

interface Drag {
  readonly pointer: number
  readonly x: number
  readonly y: number
  readonly from: View
}

/**
 * Wires the controls; `onChange` runs on every applied view.
 *
 * @example
 * const controls = new ViewControls(stage, inputs, message, reset, (view) => redraw(view)); controls.home(example.view)
 */
export class ViewControls {
  readonly #inputs: RangeInputs
  readonly #message: HTMLElement
  readonly #onChange: (view: View) => void
  #view: View = { x0: -1, x1: 1, y0: -1, y1: 1 }
  #home: View = this.#view
  /** The text each input was last given, to tell the user's edits from the page's own rounding. */
  readonly #shown = new Map<keyof View, string>()
  #drag: Drag | undefined

  constructor(stage: HTMLElement, inputs: RangeInputs, message: HTMLElement, reset: HTMLElement, onChange: (view: View) => void) {
    this.#inputs = inputs
    this.#message = message
    this.#onChange = onChange
    for (const field of FIELDS) inputs[field].addEventListener('change', () => this.#typed())
    reset.addEventListener('click', () => this.#apply(this.#home))
    stage.addEventListener('pointerdown', (e) => this.#down(e))
    stage.addEventListener('pointermove', (e) => this.#move(e))
    for (const end of ['pointerup', 'pointercancel', 'lostpointercapture'] as const) stage.addEventListener(end, (e) => this.#up(e))
    // Not passive: the wheel zooms the field instead of scrolling the page.
    stage.addEventListener('wheel', (e) => this.#wheel(e), { passive: false })
  }

  get view(): View {
    return this.#view
  }

  /** A new home (an example was chosen): shown and current, without calling onChange. */
  home(view: View): void {
    this.#home = view
    this.#view = view
    this.#show()
  }

  #apply(view: View): void {
    this.#view = view
    this.#show()
    this.#onChange(view)
  }

  #show(): void {
    for (const field of FIELDS) {
      const text = String(Number(this.#view[field].toPrecision(6)))
      this.#shown.set(field, text)
      this.#inputs[field].value = text
      this.#inputs[field].removeAttribute('aria-invalid')
    }
    this.#message.hidden = true
    this.#message.textContent = ''
  }

  /** A range input changed: apply all four if they make a valid view, else say why. */
  #typed(): void {
    const next = { ...this.#view }
    for (const field of FIELDS) {
      const text = this.#inputs[field].value
      // An untouched input keeps the exact value behind its rounded text.
      if (text !== this.#shown.get(field)) next[field] = text.trim() === '' ? Number.NaN : Number(text)
    }
    const problem = checkView(next)
    if (problem === null) {
      this.#apply(next)
      return
    }
    for (const field of FIELDS) this.#inputs[field].toggleAttribute('aria-invalid', problem.fields.includes(field))
    this.#message.hidden = false
    this.#message.textContent = `View not changed: ${problem.message}.`
  }

  #down(e: PointerEvent): void {
    if (!(e.target instanceof HTMLCanvasElement) || e.button !== 0 || this.#drag) return
    e.target.setPointerCapture(e.pointerId)
    e.preventDefault()
    this.#drag = { pointer: e.pointerId, x: e.clientX, y: e.clientY, from: this.#view }
  }

  #move(e: PointerEvent): void {
    const drag = this.#drag
    if (!drag || e.pointerId !== drag.pointer || !(e.target instanceof HTMLCanvasElement)) return
    const canvas = e.target
    // Offsets from the drag's start, not from the last event: no drift from rounding along the way.
    const next = panView(drag.from, (e.clientX - drag.x) / canvas.clientWidth, (e.clientY - drag.y) / canvas.clientHeight)
    this.#apply(orKeep(next, this.#view))
  }

  #up(e: PointerEvent): void {
    if (this.#drag?.pointer === e.pointerId) this.#drag = undefined
  }

  #wheel(e: WheelEvent): void {
    if (!(e.target instanceof HTMLCanvasElement)) return
    e.preventDefault()
    const canvas = e.target
    const box = canvas.getBoundingClientRect()
    // The content box: the border (clientLeft/Top) is not part of the picture.
    const u = (e.clientX - box.left - canvas.clientLeft) / canvas.clientWidth
    const v = (e.clientY - box.top - canvas.clientTop) / canvas.clientHeight
    const pixels = e.deltaY * (e.deltaMode === 1 ? LINE_PIXELS : e.deltaMode === 2 ? canvas.clientHeight : 1)
    if (pixels === 0) return
    const next = orKeep(zoomView(this.#view, u, v, 2 ** (pixels / ZOOM_PIXELS)), this.#view)
    // A zoom during a drag: the drag goes on from the zoomed view.
    if (this.#drag) this.#drag = { ...this.#drag, x: e.clientX, y: e.clientY, from: next }
    this.#apply(next)
  }
}
