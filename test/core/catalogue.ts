/**
 * The catalogue of bad input (issue 8), as data shared by the CPU suite (test/core/badinput.test.ts)
 * and the GPU suite (test/gpu/badinput.test.ts). In: nothing. Out: cases, each a graph, bindings,
 * the error class it must raise and a pattern its message must match; the engines that run them;
 * and the health check every engine must pass after every bad call ("nothing lost").
 *
 * A case is pure data plus constructors, so every engine sees the same inputs and the counts in
 * docs/ROBUSTNESS.md can be checked against the lengths here (countsInDoc).
 */
import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
import { BindingError, compareResults, evaluateCpu, Graph, GraphError, parse, WavegradError, type Bindings, type Results } from '../../src/index.js'

type ErrorClass = abstract new (...args: never[]) => Error

/** One bad call: `graph()` and `bindings()` handed to an engine's evaluate. */
export interface EngineCase {
  readonly what: string
  readonly graph: () => Graph
  readonly bindings: () => unknown
  readonly error: ErrorClass
  readonly message: RegExp
}

/** Anything with the engines' evaluate(graph, bindings). */
export interface Subject {
  readonly name: string
  readonly evaluate: (graph: Graph, bindings: Bindings) => unknown
  /** Scaled error allowed against the float64 reference in the health check. */
  readonly tol: number
}

const xy = () => parse('f = x*y + sin(x)')
/** An array-like whose every element is a number and whose length is absurd: must not be scanned. */
const endless = (length: number) => new Proxy({ length }, { get: (t, k) => (k === 'length' ? t.length : 0.5) })

const names: EngineCase[] = [
  { what: 'an unknown input name', graph: xy, bindings: () => ({ x: [1], y: [2], z: [3] }), error: BindingError, message: /unknown input 'z'.*inputs are: x, y/ },
  { what: 'a misspelt input name (case)', graph: xy, bindings: () => ({ X: [1], y: [2] }), error: BindingError, message: /unknown input 'X'/ },
  { what: 'two unknown names', graph: xy, bindings: () => ({ x: [1], y: [2], a: 1, b: 2 }), error: BindingError, message: /unknown inputs 'a', 'b'/ },
  { what: "an own '__proto__' key (JSON)", graph: xy, bindings: () => JSON.parse('{"__proto__": [1], "x": [1], "y": [1]}'), error: BindingError, message: /unknown input '__proto__'/ },
  { what: 'a missing input', graph: xy, bindings: () => ({ x: [1] }), error: BindingError, message: /missing binding for 'y'/ },
  { what: 'every input missing', graph: xy, bindings: () => ({}), error: BindingError, message: /missing bindings for 'x', 'y'/ },
  { what: 'a Map instead of an object', graph: xy, bindings: () => new Map([['x', [1]], ['y', [1]]]), error: BindingError, message: /missing bindings for 'x', 'y'/ },
  { what: 'an inherited (prototype) key only', graph: xy, bindings: () => Object.assign(Object.create({ y: [2] }), { x: [1] }), error: BindingError, message: /missing binding for 'y'/ },
]

const unequal: EngineCase[] = [
  { what: 'arrays of lengths 2 and 1', graph: xy, bindings: () => ({ x: [1, 2], y: [1] }), error: BindingError, message: /unequal lengths: 'x' has 2, 'y' has 1/ },
  { what: 'a Float32Array(3) and a number[2]', graph: xy, bindings: () => ({ x: new Float32Array(3), y: [1, 2] }), error: BindingError, message: /unequal lengths/ },
  { what: 'an empty array and a full one', graph: xy, bindings: () => ({ x: [], y: [1] }), error: BindingError, message: /'x' has 0, 'y' has 1/ },
  { what: 'three inputs, the last one short', graph: () => parse('f = a + b * c'), bindings: () => ({ a: [1, 2, 3], b: [1, 2, 3], c: [1, 2] }), error: BindingError, message: /'a' has 3, 'c' has 2/ },
  { what: 'an array-like whose length disagrees', graph: xy, bindings: () => ({ x: { length: 2, 0: 1, 1: 2 }, y: new Float64Array(5) }), error: BindingError, message: /unequal lengths/ },
]

const BAD_SOURCES: readonly [string, unknown, RegExp][] = [
  ['a string', 'abc', /got the string "abc"/],
  ['null', null, /got null/],
  ['undefined', undefined, /got undefined/],
  ['a plain object', {}, /got an object \(Object\)/],
  ['a boolean', true, /got boolean true/],
  ['a bigint', 1n, /got bigint 1/],
  ['a symbol', Symbol('s'), /got symbol/],
  ['a function', () => 1, /got a function/],
  ['a Number object', new Number(3), /got an object \(Number\)/],
  ['an ArrayBuffer', new ArrayBuffer(8), /got an object \(ArrayBuffer\)/],
  ['a DataView', new DataView(new ArrayBuffer(8)), /got an object \(DataView\)/],
  ['a BigInt64Array', new BigInt64Array(2), /got an object \(BigInt64Array\)/],
  ['an array-like with a negative length', { length: -1 }, /length number -1 is not a non-negative integer/],
  ['an array-like with a fractional length', { length: 1.5 }, /length number 1.5 is not/],
  ['an array-like with an infinite length', { length: Infinity }, /length number Infinity is not/],
  ["a string element", ['1'], /'x'\[0\] is the string "1", not a number/],
  ['a null element', [0, null], /'x'\[1\] is null/],
  ['an undefined element', [0, 0, undefined], /'x'\[2\] is undefined/],
  ['a hole (sparse array)', [1, , 3], /'x'\[1\] is undefined/],
  ['a nested array', [[1], [2]], /'x'\[0\] is an array of length 1/],
  ['an object element', [{}], /'x'\[0\] is an object/],
  ['a boolean element', [true], /'x'\[0\] is boolean true/],
  ['a bigint element', [1n], /'x'\[0\] is bigint 1/],
  ['an array-like without elements', { length: 2 }, /'x'\[0\] is undefined/],
]

const nonNumeric: EngineCase[] = [
  ...BAD_SOURCES.map(([what, x, message]): EngineCase => ({ what: `binding x is ${what}`, graph: xy, bindings: () => ({ x, y: 1 }), error: BindingError, message })),
  { what: 'bindings is null', graph: xy, bindings: () => null, error: BindingError, message: /bindings must be an object.*got null/ },
  { what: 'bindings is undefined', graph: xy, bindings: () => undefined, error: BindingError, message: /got undefined/ },
  { what: 'bindings is an array', graph: xy, bindings: () => [[1], [2]], error: BindingError, message: /got an array of length 2/ },
  { what: 'bindings is a string', graph: xy, bindings: () => 'x=1', error: BindingError, message: /got the string/ },
  { what: 'bindings is a number', graph: xy, bindings: () => 3, error: BindingError, message: /got number 3/ },
]

const noOutputs: EngineCase[] = [
  { what: 'an empty Graph', graph: () => new Graph(), bindings: () => ({}), error: GraphError, message: /no outputs: declare one with g\.output/ },
  {
    what: 'a Graph with inputs and nodes but no output',
    graph: () => {
      const g = new Graph()
      g.input('x').sin()
      return g
    },
    bindings: () => ({ x: [1] }),
    error: GraphError,
    message: /no outputs/,
  },
]

const hugeBatch: EngineCase[] = [
  { what: 'an array-like of 2^40 numbers (never scanned)', graph: xy, bindings: () => ({ x: endless(2 ** 40), y: 1 }), error: BindingError, message: /1099511627776 elements, more than one call takes/ },
  { what: 'an array-like of 2^32 numbers', graph: xy, bindings: () => ({ x: endless(2 ** 32), y: [1] }), error: BindingError, message: /4294967296 elements.*split the batch/ },
]

/** Engine-level cases by category (the names are the rows of the table in docs/ROBUSTNESS.md). */
export const ENGINE_CASES: Readonly<Record<string, readonly EngineCase[]>> = {
  'unknown / missing input names': names,
  'bindings of unequal length': unequal,
  'non-numeric or non-array bindings': nonNumeric,
  'empty graph / no outputs': noOutputs,
  'huge batches (length beyond MAX_BATCH)': hugeBatch,
}

/** Accepted, not errors: NaN is a value, and so are ±Infinity, typed arrays and array-likes. */
export const ACCEPTED: readonly { readonly what: string; readonly bindings: Bindings }[] = [
  { what: 'NaN and ±Infinity in arrays', bindings: { x: [NaN, Infinity, -Infinity, 1], y: [1, 2, NaN, -Infinity] } },
  { what: 'NaN broadcast', bindings: { x: NaN, y: [1, 2] } },
  { what: 'Infinity broadcast', bindings: { x: [0, 1, -1], y: Infinity } },
  { what: 'integer typed arrays', bindings: { x: new Uint8Array([1, 255]), y: new Int32Array([-3, 4]) } },
  { what: 'an array-like object', bindings: { x: { length: 2, 0: 0.5, 1: -0.5 } as ArrayLike<number>, y: [3, 4] } },
  { what: 'a prototype-less object', bindings: Object.assign(Object.create(null) as Record<string, number[]>, { x: [1], y: [2] }) },
  { what: 'an empty batch', bindings: { x: [], y: new Float32Array(0) } },
  { what: '-0 and subnormals', bindings: { x: [-0, 1e-310, 1e-40], y: [-0, -0, 5e-324] } },
]

/** The good graph every engine must still evaluate correctly after a bad call. */
export const GOOD = { graph: xy(), bindings: { x: [0.5, -1, 2, 3e-3, 7], y: [3, 4, -5, 0, -2] } } as const

/** Calls f and returns what it threw (synchronously or by rejecting); fails when nothing was thrown. */
export async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f()
  } catch (e) {
    return e
  }
  return expect.fail('expected an error, but the call succeeded')
}

/** Asserts one bad call raised the named class with an actionable message (and nothing generic). */
export function expectNamedError(e: unknown, error: ErrorClass, message: RegExp, what: string): void {
  expect(e, what).toBeInstanceOf(error)
  expect(e, what).toBeInstanceOf(WavegradError)
  expect((e as Error).message, what).toMatch(message)
}

/** After a bad call the same engine still computes GOOD as the float64 reference does. */
export async function expectHealthy(subject: Subject): Promise<void> {
  const r = (await subject.evaluate(GOOD.graph, GOOD.bindings)) as Results<ArrayLike<number>>
  const { maxError, where } = compareResults(r, evaluateCpu(GOOD.graph, GOOD.bindings))
  expect(maxError, `${subject.name}: ${where}`).toBeLessThanOrEqual(subject.tol)
}

/** Runs every engine-level case on `subject`, checking health after each; returns cases run per category. */
export async function runCatalogue(subject: Subject): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const [category, cases] of Object.entries(ENGINE_CASES)) {
    for (const c of cases) {
      const e = await caught(() => subject.evaluate(c.graph(), c.bindings() as Bindings))
      expectNamedError(e, c.error, c.message, `${subject.name}: ${category}: ${c.what}`)
      await expectHealthy(subject)
      counts[category] = (counts[category] ?? 0) + 1
    }
  }
  return counts
}

/**
 * The counts docs/ROBUSTNESS.md gives for `categories`: its table rows look like
 * `| category | count | ... |`. Missing rows come back as undefined.
 */
export function countsInDoc(categories: readonly string[]): Record<string, number | undefined> {
  const doc = readFileSync(new URL('../../docs/ROBUSTNESS.md', import.meta.url), 'utf8')
  const rows = new Map<string, number>()
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length >= 4 && /^\d+$/.test(cells[2]!)) rows.set(cells[1]!.replace(/`/g, ''), Number(cells[2]))
  }
  return Object.fromEntries(categories.map((c) => [c, rows.get(c)]))
}
