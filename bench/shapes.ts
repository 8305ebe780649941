/**
 * Shapes nobody here designed a kernel for, and real programs: the catalogue the shape tests
 * (test/core/shapes.test.ts, test/gpu/shapes.test.ts) and the benches run. In: nothing. Out: named
 * graph builders with the input ranges they are sampled on (kept where f32 stays in range).
 *
 * Shapes: wide sums as one line and as a tree, chains of cheap and of transcendental ops, a deep
 * nest of sin, one node with thousands of users, min/max and `where` chains, many outputs, many
 * inputs, extreme constants. Programs: Black–Scholes, Lennard-Jones, a tanh MLP, a 400-deep chain,
 * the bench graphs and uniformly random DAGs.
 */
import { Graph, parse, type Expr } from '../src/index.js'
import { benchGraph, lcg } from './graphs.js'

export interface Shape {
  readonly name: string
  readonly build: () => Graph
  /** Where each input is sampled (default [-1, 1]). */
  readonly ranges?: Readonly<Record<string, readonly [number, number]>>
}

/** The wide sum: f = sin(x·1/1500 + y) + sin(x·2/1500 + y) + …, n terms. */
function sumTerms(n: number): string[] {
  return Array.from({ length: n }, (_, k) => `sin(x*${((k + 1) / 1500).toPrecision(6)} + y)`)
}

/** A wide sum written as one line of program text. */
function sumLine(n: number): Graph {
  return parse(`f = ${sumTerms(n).join(' + ')}`)
}

/** The same sum added as a balanced tree (`seed` shifts the factors: a new graph). */
export function sumTree(n: number, seed = 0): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  let level: Expr[] = Array.from({ length: n }, (_, k) => x.mul((k + 1 + seed / 10) / 1500).add(y).sin())
  while (level.length > 1) {
    const next: Expr[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? level[i]!.add(level[i + 1]!) : level[i]!)
    level = next
  }
  g.output('f', level[0]!)
  return g
}

/**
 * About `nodes` nodes of a chain: cheap c = c·0.999 + y (its Jacobian folds to constants), a
 * product c = c·x + 0.5, or transcendental c = c + 1e-5·sin(c + y).
 */
export function chain(kind: 'cheap' | 'product' | 'sin', nodes: number, step = 0.00001): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  let c = x
  const perStep = kind === 'sin' ? 4 : 2
  for (let i = 0; i < nodes / perStep; i++) c = kind === 'cheap' ? c.mul(0.999).add(y) : kind === 'product' ? c.mul(x).add(0.5) : c.add(c.add(y).sin().mul(step))
  g.output('f', c)
  return g
}

/** sin(sin(…sin(x))) `depth` deep (deeper than the parser's 500 levels: built with the builder). */
function nestedSin(depth: number): Graph {
  const g = new Graph()
  let e = g.input('x')
  for (let i = 0; i < depth; i++) e = e.sin()
  g.output('f', e.mul(g.input('y')))
  return g
}

/** One node, t = sin(x·y), read by `users` others: f = Σ_k cos(t·(1 + k/users)). */
function fanOut(users: number): Graph {
  const g = new Graph()
  const t = g.input('x').mul(g.input('y')).sin()
  let f: Expr = t
  for (let k = 0; k < users; k++) f = f.add(t.mul(1 + k / users).cos())
  g.output('f', f)
  return g
}

/** A chain of min/max, `depth` links: c = min(max(c, y - k/depth), x + 1 - k/depth). */
export function minMaxChain(depth: number): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  let c: Expr = x.mul(y)
  for (let k = 0; k < depth; k++) c = k % 2 ? c.max(y.sub(k / depth)) : c.min(x.add(1 - k / depth))
  g.output('f', c)
  return g
}

/** A chain of `where`, `depth` links: c = where(c > y, 0.9·c + 0.01·x, c + 0.001). */
export function whereChain(depth: number): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  let c: Expr = x
  for (let k = 0; k < depth; k++) c = c.gt(y).where(c.mul(0.9).add(x.mul(0.01)), c.add(0.001))
  g.output('f', c)
  return g
}

/** `n` outputs over two inputs: o_k = sin(x·(k + 1)/100)·y + k. */
export function manyOutputs(n: number): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  for (let k = 0; k < n; k++) g.output(`o${k}`, x.mul((k + 1) / 100).sin().mul(y).add(k))
  return g
}

/** One output over `n` inputs: f = Σ_k tanh(x_k · x_{k+1}) + x_0. */
export function manyInputs(n: number): Graph {
  const g = new Graph()
  const xs = Array.from({ length: n }, (_, k) => g.input(`x${k}`))
  let f: Expr = xs[0]!
  for (let k = 0; k + 1 < n; k++) f = f.add(xs[k]!.mul(xs[k + 1]!).tanh())
  g.output('f', f)
  return g
}

/**
 * A long sum whose terms cycle through extreme constants that stay exact in f32: 1e38 (and back),
 * -0 as a factor and an addend, max against -1e38, a comparison with -0. (Products with 1e-38, a
 * float32 subnormal a GPU may flush, are issue 21's.)
 */
function extremeConstants(terms: number): Graph {
  const forms = ['(x*1e38)/1e38', 'x*-0 + y', '-0 - x', 'max(x*1e38, -1e38)/3e38', 'where(x > -0, y, -0)', '(y*3e38)/(6e38)', 'x + 1e-38']
  const lines = ['e0 = 0']
  for (let k = 1; k <= terms; k++) lines.push(`e${k} = e${k - 1} + 0.01*(${forms[k % forms.length]})`)
  return parse(lines.join('\n'))
}

/** The shape catalogue: every shape the tests run on every engine. */
export const SHAPES: readonly Shape[] = [
  ...[600, 1500, 5000].flatMap((n) => [
    { name: `sum of ${n} sin terms, one line`, build: () => sumLine(n) },
    { name: `sum of ${n} sin terms, a tree`, build: () => sumTree(n) },
  ]),
  ...[600, 2000, 10000].flatMap((n) => [
    { name: `cheap chain of ${n} nodes`, build: () => chain('cheap', n) },
    { name: `product chain of ${n} nodes`, build: () => chain('product', n), ranges: { x: [-0.9, 0.9], y: [-1, 1] } },
    { name: `sin chain of ${n} nodes`, build: () => chain('sin', n) },
  ]),
  { name: 'sin nested 600 deep', build: () => nestedSin(600) },
  { name: 'one node read by 2000 others', build: () => fanOut(2000) },
  { name: 'min/max chain 600 deep', build: () => minMaxChain(600) },
  { name: 'where chain 600 deep', build: () => whereChain(600) },
  { name: '500 outputs', build: () => manyOutputs(500) },
  { name: '300 inputs', build: () => manyInputs(300) },
  { name: 'extreme constants in a 600-term sum', build: () => extremeConstants(600) },
]

/** F3 of bench:peers: 4 → 8 tanh → 8 tanh → 1, seeded weights scaled by 1/√fan-in. */
export function mlp(seed: number, widths: readonly number[]): Graph {
  const next = lcg(seed)
  const g = new Graph()
  let layer: Expr[] = Array.from({ length: widths[0]! }, (_, i) => g.input(`x${i}`))
  widths.slice(1).forEach((width, l) => {
    const last = l === widths.length - 2
    layer = Array.from({ length: width }, () => {
      let s: Expr = g.constant((next() * 2 - 1) / Math.sqrt(layer.length))
      for (const h of layer) s = s.add(h.mul((next() * 2 - 1) / Math.sqrt(layer.length)))
      return last ? s : s.tanh()
    })
  })
  layer.forEach((e, j) => g.output(`y${j}`, e))
  return g
}

/** Lennard-Jones energy of `n` particles in 3-D: E = Σ_{i<j} 4(r⁻¹² − r⁻⁶), r² = |p_i − p_j|². */
function lennardJones(n: number): Graph {
  const g = new Graph()
  const p = Array.from({ length: n }, (_, i) => ['x', 'y', 'z'].map((c) => g.input(`${c}${i}`)))
  let e: Expr | undefined
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const r2 = p[i]!.map((c, k) => c.sub(p[j]![k]!).pow(2)).reduce((a, b) => a.add(b))
      const inv6 = r2.pow(-3)
      const term = inv6.mul(inv6).sub(inv6).mul(4)
      e = e ? e.add(term) : term
    }
  }
  g.output('E', e!)
  return g
}

/** A 400-deep chain of mixed smooth ops over two inputs. */
function deepChain(depth: number): Graph {
  const g = new Graph()
  const x = g.input('x')
  const y = g.input('y')
  let c: Expr = x
  for (let k = 0; k < depth; k++) c = [() => c.sin().mul(0.9).add(y.mul(0.1)), () => c.mul(c).mul(0.5).tanh(), () => c.add(x).sigmoid(), () => c.mul(y).cos()][k % 4]!()
  g.output('f', c)
  return g
}

/** `nodes` nodes, each reading two uniformly random earlier nodes (sin/cos/tanh/exp mix, as issue 18's). */
export function randomDag(nodes: number, seed: number): Graph {
  const next = lcg(seed)
  const g = new Graph()
  const pool: Expr[] = ['x0', 'x1', 'x2', 'x3'].map((n) => g.input(n))
  const pick = () => pool[Math.floor(next() * pool.length)]!
  const makers: ((a: Expr, b: Expr) => Expr)[] = [(a, b) => a.add(b), (a, b) => a.mul(b).sin(), (a, b) => a.sub(b).cos(), (a, b) => a.mul(b.tanh()), (a, b) => a.mul(0.5).add(b.mul(0.3)).exp().mul(0.1)]
  while (g.nodeCount < nodes) pool.push(makers[Math.floor(next() * makers.length)]!(pick(), pick()))
  // Every node live: two outputs over what nothing else read.
  const last = pool[pool.length - 1]!
  g.output('f', last)
  g.output('h', pool.slice(4).reduce((acc, e, i) => (i % 7 === 0 ? acc.add(e.mul(0.01)) : acc), last.mul(0.5)))
  return g
}

const BLACK_SCHOLES = ['d1 = (log(S/K) + (r + sigma^2/2)*T) / (sigma*sqrt(T))', 'd2 = d1 - sigma*sqrt(T)', 'call = S*(1 + erf(d1/sqrt(2)))/2 - K*exp(-r*T)*(1 + erf(d2/sqrt(2)))/2'].join('\n')

/** Real programs and the bench graphs, for the size table and the tests' bound. */
export const PROGRAMS: readonly Shape[] = [
  { name: 'Black–Scholes call', build: () => parse(BLACK_SCHOLES), ranges: { S: [50, 150], K: [80, 120], r: [0, 0.08], sigma: [0.1, 0.6], T: [0.1, 2] } },
  { name: 'Lennard-Jones, 8 particles', build: () => lennardJones(8), ranges: Object.fromEntries(Array.from({ length: 8 }, (_, i) => ['x', 'y', 'z'].map((c) => [`${c}${i}`, [i * 1.5, i * 1.5 + 1] as const])).flat()) },
  { name: 'tanh MLP 4-8-8-1', build: () => mlp(7, [4, 8, 8, 1]) },
  { name: 'tanh MLP 16-32-32-4', build: () => mlp(8, [16, 32, 32, 4]) },
  { name: '400-deep chain', build: () => deepChain(400) },
  ...[10, 100, 1000].map((n) => ({ name: `bench graph ${n}`, build: () => benchGraph(n) })),
  ...[1, 2, 3].map((seed) => ({ name: `random DAG 1000 nodes, seed ${seed}`, build: () => randomDag(1000, seed) })),
]

/** A tanh MLP 4 → w → w → 1 (each neuron reads all of the previous layer) of about `nodes` nodes. */
function mlpOfSize(nodes: number, seed: number): Graph {
  const size = (w: number) => w * 9 + w * (2 * w + 1) + (2 * w + 1)
  let w = 1
  while (size(w + 1) <= nodes) w++
  return mlp(seed, [4, w, w, 1])
}

/** A shape at any size: issue 18's first-result table (bench/run.ts, "Shapes"). */
export interface ScalableShape {
  readonly name: string
  /** About `nodes` live nodes; `seed` varies constants or structure (a new graph each time). */
  readonly build: (nodes: number, seed: number) => Graph
}

export const SCALABLE_SHAPES: readonly ScalableShape[] = [
  { name: 'random DAG (two uniform reads)', build: (n, seed) => randomDag(n, seed) },
  { name: 'tanh MLP (dense layers)', build: (n, seed) => mlpOfSize(n, seed) },
  // The seed shifts the constant so that each graph is new.
  { name: 'sin chain', build: (n, seed) => chain('sin', n, 1e-5 * (1 + seed / 100)) },
  { name: 'wide sum of sin terms (a tree)', build: (n, seed) => sumTree(Math.max(1, Math.round(n / 4)), seed) },
  { name: 'bench graph', build: (n, seed) => benchGraph(n, seed) },
]

/** `size` float32 bindings for a shape's graph, uniform on its ranges (default [-1, 1]), seeded. */
export function shapeBindings(shape: Shape, graph: Graph, size: number, seed = 1): Record<string, Float32Array<ArrayBuffer>> {
  const next = lcg(seed)
  return Object.fromEntries(graph.inputs.map((name) => {
    const [lo, hi] = shape.ranges?.[name] ?? [-1, 1]
    return [name, Float32Array.from({ length: size }, () => lo + (hi - lo) * next())]
  }))
}
