/**
 * The race's workloads (bench:peers, and the profile and backend tables of bench/run.ts): F1 the
 * seed, F2 Rosenbrock, F3 a 4-8-8-1 tanh network with fixed seeded weights.
 */
import { lcg } from './graphs.js'

export interface Workload {
  readonly id: 'F1' | 'F2' | 'F3'
  readonly name: string
  /** wavegrad program; every library's results are checked against its float64 reference. */
  readonly source: string
  readonly ranges: Readonly<Record<string, readonly [number, number]>>
}

/** F3: 4 -> 8 tanh -> 8 tanh -> 1, row-major weights (w1[i * 8 + j]: input i to unit j). */
export interface Network {
  readonly w1: number[]
  readonly b1: number[]
  readonly w2: number[]
  readonly b2: number[]
  readonly w3: number[]
  readonly b3: number
}

/** Seeded weights scaled by 1/sqrt(fan-in), rounded to 4 decimals: program text and f32 tensors hold the same numbers. */
function networkWeights(seed: number): Network {
  const next = lcg(seed)
  const draw = (n: number, fanIn: number) => Array.from({ length: n }, () => Math.round(((next() * 2 - 1) / Math.sqrt(fanIn)) * 1e4) / 1e4)
  return { w1: draw(32, 4), b1: draw(8, 4), w2: draw(64, 8), b2: draw(8, 8), w3: draw(8, 8), b3: draw(1, 8)[0]! }
}

/** The network as wavegrad text: h1_j = tanh(sum_i w1[i][j]*x_i + b1_j), h2 likewise, y = w3 . h2 + b3. */
export function networkSource(n: Network): string {
  const affine = (xs: string[], w: number[], width: number, j: number, b: number) => [...xs.map((x, i) => `${w[i * width + j]}*${x}`), String(b)].join(' + ').replace(/\+ -/g, '- ')
  const xs = ['x0', 'x1', 'x2', 'x3']
  const h1 = xs.concat(xs).map((_, j) => `h1_${j}`)
  const h2 = h1.map((_, j) => `h2_${j}`)
  return [
    ...h1.map((h, j) => `${h} = tanh(${affine(xs, n.w1, 8, j, n.b1[j]!)})`),
    ...h2.map((h, j) => `${h} = tanh(${affine(h1, n.w2, 8, j, n.b2[j]!)})`),
    `y = ${affine(h2, n.w3, 1, 0, n.b3)}`,
  ].join('\n')
}

export const NET = networkWeights(7)
export const WORKLOADS: readonly Workload[] = [
  { id: 'F1', name: 'seed', source: 'e = (a*4 + 3)*(a + 2)', ranges: { a: [-5, 5] } },
  { id: 'F2', name: 'Rosenbrock', source: 'f = (1-x)^2 + 100*(y-x^2)^2', ranges: { x: [-2, 2], y: [-1, 3] } },
  { id: 'F3', name: 'tanh net 4-8-8-1', source: networkSource(NET), ranges: { x0: [-2, 2], x1: [-2, 2], x2: [-2, 2], x3: [-2, 2] } },
]

