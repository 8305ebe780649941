/**
 * Built-in example programs: source text, the view rectangle that shows them well, the range and
 * start value of their parameter sliders, and whether the log colour scale suits them.
 */

/** A rectangle of the (x, y) plane; the grid covers it. */
export interface View {
  readonly x0: number
  readonly x1: number
  readonly y0: number
  readonly y1: number
}

/** A slider: any program input other than x and y. */
export interface ParamSpec {
  readonly value: number
  readonly min: number
  readonly max: number
  readonly step: number
}

/** A built-in program with the view and sliders that show it well. */
export interface Example {
  readonly name: string
  readonly source: string
  readonly view: View
  readonly params: Readonly<Record<string, ParamSpec>>
  readonly logScale: boolean
}

/** The slider of a parameter no example describes. */
export const DEFAULT_PARAM: ParamSpec = { value: 1, min: -5, max: 5, step: 0.01 }

/** x, y in [-2.5, 2.5]. (A typed program keeps the view of the example it was typed over.) */
export const DEFAULT_VIEW: View = { x0: -2.5, x1: 2.5, y0: -2.5, y1: 2.5 }

/** The examples of the picker, the first one shown at start. */
export const EXAMPLES: readonly Example[] = [
  {
    name: 'Rosenbrock',
    source: '# banana valley, minimum at (1, 1)\nf = (1-x)^2 + a*(y-x^2)^2\n',
    view: { x0: -2, x1: 2, y0: -1, y1: 3 },
    params: { a: { value: 100, min: 0, max: 200, step: 0.5 } },
    logScale: true,
  },
  {
    name: 'Himmelblau',
    source: '# four minima, one maximum\nf = (x^2 + y - 11)^2 + (x + y^2 - 7)^2\n',
    view: { x0: -5, x1: 5, y0: -5, y1: 5 },
    params: {},
    logScale: true,
  },
  {
    name: 'Potential field',
    source: [
      '# two point charges at (±1, 0), 1/r softened near the charge',
      'r1 = sqrt((x - 1)^2 + y^2 + 0.05)',
      'r2 = sqrt((x + 1)^2 + y^2 + 0.05)',
      'phi = q1 / r1 + q2 / r2',
      '',
    ].join('\n'),
    view: DEFAULT_VIEW,
    params: { q1: { value: 1, min: -5, max: 5, step: 0.01 }, q2: { value: -1, min: -5, max: 5, step: 0.01 } },
    logScale: false,
  },
  {
    name: 'Tiny neural net',
    source: [
      '# 2 inputs -> 3 tanh units -> 1 output; w1, w2, v are trainable weights',
      'h1 = tanh(1.5*x - y + 0.5)',
      'h2 = tanh(w1*x + 0.8*y - 0.3)',
      'h3 = tanh(-0.7*x + w2*y + 0.2)',
      'f = 1.2*h1 - 0.9*h2 + v*h3',
      '',
    ].join('\n'),
    view: { x0: -3, x1: 3, y0: -3, y1: 3 },
    params: {
      w1: { value: -1.2, min: -5, max: 5, step: 0.01 },
      w2: { value: 2, min: -5, max: 5, step: 0.01 },
      v: { value: 1.5, min: -5, max: 5, step: 0.01 },
    },
    logScale: false,
  },
]
