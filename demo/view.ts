/**
 * View arithmetic for pan, zoom and the range inputs. In: a view and a gesture in canvas units
 * (u, v in [0, 1] from the left and the TOP edge, as the pointer sees it). Out: a new view.
 * Invariant: every view the page applies passed `checkView`, so the grid has x0 < x1, y0 < y1 and
 * cells wide enough for float32 to tell their centres apart.
 */
import type { View } from './examples.js'

/** Largest |coordinate| a view may reach: float32 cells stay distinct and f stays finite longer. */
export const VIEW_LIMIT = 1e6
/**
 * Narrowest span, relative to the larger end of the range (at least 1): a 1024-cell grid then has
 * cells of at least 2^-21 of that magnitude, a few float32 ulps (2^-23 relative), so cell centres
 * stay distinct.
 */
export const MIN_RELATIVE_SPAN = 2 ** -11
/** Wheel zoom: the span scales by 2^(deltaY / ZOOM_PIXELS); deltaY = −400 px halves it. */
export const ZOOM_PIXELS = 400

/** Why a view cannot be applied, and which of its fields are at fault. */
export interface ViewProblem {
  readonly fields: readonly (keyof View)[]
  readonly message: string
}

/**
 * What is wrong with a view, or null if the page can apply it.
 *
 * @example
 * checkView({ x0: 1, x1: 0, y0: 0, y1: 1 }) // { fields: ['x0', 'x1'], message: 'x min must be less than x max' }
 */
export function checkView(v: View): ViewProblem | null {
  const named: [keyof View, string][] = [['x0', 'x min'], ['x1', 'x max'], ['y0', 'y min'], ['y1', 'y max']]
  for (const [field, name] of named) {
    if (!Number.isFinite(v[field])) return { fields: [field], message: `${name} is not a number` }
    if (Math.abs(v[field]) > VIEW_LIMIT) return { fields: [field], message: `${name} is outside ±${VIEW_LIMIT.toExponential()}` }
  }
  for (const [axis, lo, hi] of [['x', 'x0', 'x1'], ['y', 'y0', 'y1']] as const) {
    const fields = [lo, hi]
    if (!(v[lo] < v[hi])) return { fields, message: `${axis} min must be less than ${axis} max` }
    const least = minSpan(v[lo], v[hi])
    if (v[hi] - v[lo] < least) return { fields, message: `the ${axis} range is too narrow for float32 (at least ${least.toPrecision(2)})` }
  }
  return null
}

function minSpan(lo: number, hi: number): number {
  return MIN_RELATIVE_SPAN * Math.max(1, Math.abs(lo), Math.abs(hi))
}

/**
 * The view after dragging the picture by (du, dv) canvas units (dv down): the point that was
 * under the pointer stays under it, so x moves against du and y with dv.
 *
 * @example
 * panView({ x0: 0, x1: 4, y0: 0, y1: 4 }, 0.25, 0) // { x0: -1, x1: 3, y0: 0, y1: 4 }
 */
export function panView(v: View, du: number, dv: number): View {
  const dx = du * (v.x1 - v.x0)
  const dy = dv * (v.y1 - v.y0)
  return { x0: v.x0 - dx, x1: v.x1 - dx, y0: v.y0 + dy, y1: v.y1 + dy }
}

/**
 * The view scaled by `factor` (< 1 zooms in) about the point at canvas (u, v), which stays put:
 * x(u) = x0 + u·(x1 − x0) is the same before and after.
 *
 * @example
 * zoomView({ x0: 0, x1: 4, y0: 0, y1: 4 }, 0.5, 0.5, 0.5) // { x0: 1, x1: 3, y0: 1, y1: 3 }
 */
export function zoomView(v: View, u: number, w: number, factor: number): View {
  const x = v.x0 + u * (v.x1 - v.x0)
  const y = v.y1 - w * (v.y1 - v.y0)
  return { x0: x - (x - v.x0) * factor, x1: x + (v.x1 - x) * factor, y0: y - (y - v.y0) * factor, y1: y + (v.y1 - y) * factor }
}

/** A view the user can apply: `v` if it passes checkView, else `fallback` (a gesture goes no further). */
export function orKeep(v: View, fallback: View): View {
  return checkView(v) === null ? v : fallback
}
