/**
 * Wide layered graphs for the wavefront-parallel measurement: `inputs` inputs, `layers` layers of
 * `width` nodes (layer 1 scales input i mod `inputs` by a distinct constant, so every node of it is
 * distinct; each later node applies a random smooth op to the node above it and, for binary ops, a
 * random node of the previous layer), then one output: the pairwise (tree) sum of the last layer.
 * Every node is live. Depth ≈ layers + log2(width); wavefronts ≈ width wide.
 */
import { Graph, type Expr } from '../../src/index.js'
import { lcg } from '../graphs.js'

export interface WideShape {
  readonly name: string
  readonly inputs: number
  readonly width: number
  readonly layers: number
}

export function wideGraph({ inputs, width, layers }: WideShape, seed = 7): Graph {
  const next = lcg(seed)
  const g = new Graph()
  const xs = Array.from({ length: inputs }, (_, i) => g.input(`x${i}`))
  const ops: ((a: Expr, b: Expr) => Expr)[] = [
    (a, b) => a.add(b),
    (a, b) => a.mul(b),
    (a, b) => a.sub(b),
    (a) => a.tanh(),
    (a) => a.sin(),
    (a) => a.sigmoid(),
    (a) => a.cos(),
  ]
  let layer: Expr[] = Array.from({ length: width }, (_, i) => xs[i % inputs]!.mul(0.5 + i / width))
  for (let l = 1; l < layers; l++) {
    const prev = layer
    layer = prev.map((a) => ops[Math.floor(next() * ops.length)]!(a, prev[Math.floor(next() * prev.length)]!))
  }
  while (layer.length > 1) {
    const pairs: Expr[] = []
    for (let i = 0; i < layer.length; i += 2) pairs.push(i + 1 < layer.length ? layer[i]!.add(layer[i + 1]!) : layer[i]!)
    layer = pairs
  }
  g.output('f', layer[0]!)
  return g
}
