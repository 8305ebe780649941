/**
 * Parser fuzzing (issue 8): random strings, token soups and mutated programs through parse(). The
 * only exception it may raise is a ParseError whose line:column lies inside the source and whose
 * `source` is that line; no input may hang it (each parse well under a second); a program that
 * parses has an output and evaluates on the reference without an exception.
 * Untrusted text (issue 21): deep nesting of every shape up to 10^5 levels, alone and mixed, under
 * the default limits, UNTRUSTED_TEXT and maxDepth = MAX_DEPTH_CAP: a Graph or a ParseError, never a
 * RangeError (stack overflow).
 * WAVEGRAD_FUZZ_RUNS=<n> runs every property n times (default: a CI-sized few hundred in all).
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { evaluateCpu, MAX_DEPTH_CAP, parse, ParseError, UNTRUSTED_TEXT, type ParseOptions } from '../../src/index.js'

const FUZZ_RUNS = Number(process.env.WAVEGRAD_FUZZ_RUNS) || 0
const runs = (ci: number) => FUZZ_RUNS || ci

const TOKENS = [
  'x', 'y', 'z1', '_a', '__b', 'out', 'f', 'sin', 'atan2', 'where', 'pow', 'max', 'toString', 'constructor', 'valueOf',
  '0', '1', '2.5', '.5', '1e3', '1e-3', '1e999', '3x', '1.2.3',
  '+', '-', '*', '/', '^', '**', '<', '<=', '>', '>=', '==', '!=', '=', '(', ')', ',', ';', '\n', '\r\n', '#', '# c\n',
  ' ', '\t', '$', 'é', '\u0000', '"', '[', '😀',
]
const soup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => t.join(''))
const spacedSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((t) => t.join(' '))
const GOOD = ['f = (1-x)^2 + 100*(y-x^2)^2', 'a = sin(x)*y; b = where(a > 0, a, -a)\nc = atan2(a, b) ** 2 # done', 'max(x, min(y, 1)) - -x^2']
/** A good program with random edits: a token inserted, a range deleted, or a range repeated. */
const mutated = fc
  .record({ src: fc.constantFrom(...GOOD), edits: fc.array(fc.record({ kind: fc.nat(2), at: fc.nat(), len: fc.nat(8), token: fc.constantFrom(...TOKENS) }), { minLength: 1, maxLength: 4 }) })
  .map(({ src, edits }) =>
    edits.reduce((s, { kind, at, len, token }) => {
      const i = at % (s.length + 1)
      if (kind === 0) return s.slice(0, i) + token + s.slice(i)
      if (kind === 1) return s.slice(0, i) + s.slice(i + len)
      return s.slice(0, i) + s.slice(i, i + len).repeat(2) + s.slice(i + len)
    }, src),
  )

/** parse() either gives a usable graph or a ParseError pointing inside the source. */
function checkParse(src: string): void {
  const t0 = performance.now()
  let graph
  try {
    graph = parse(src)
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`parse(${JSON.stringify(src)}) threw ${String(e)}, not a ParseError`)
    const lines = src.split('\n')
    expect(e.line).toBeGreaterThanOrEqual(1)
    expect(e.line).toBeLessThanOrEqual(lines.length)
    const text = lines[e.line - 1]!.replace(/\r$/, '')
    expect(e.column).toBeGreaterThanOrEqual(1)
    expect(e.column).toBeLessThanOrEqual(lines[e.line - 1]!.length + 1)
    expect(e.source).toBe(text)
    expect(e.message).toContain(` at ${e.line}:${e.column}\n`)
  }
  expect(performance.now() - t0).toBeLessThan(1000)
  if (!graph) return
  expect(graph.outputs.length).toBeGreaterThan(0)
  const r = evaluateCpu(graph, Object.fromEntries(graph.inputs.map((n) => [n, [0.5, -2]])))
  // Without inputs a graph has exactly one binding.
  expect(r.size).toBe(graph.inputs.length ? 2 : 1)
}

describe('parse() fuzzing: only ParseError, with line:column inside the source', () => {
  test('random strings (UTF-16 code units, full Unicode, ASCII)', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'grapheme-ascii', maxLength: 80 }), fc.string({ unit: fc.constantFrom(...'x1+-*/^()=;,\n#. e'.split('')), maxLength: 80 })), checkParse), { numRuns: runs(400), seed: 8001 })
  })

  test('token soups', () => {
    fc.assert(fc.property(fc.oneof(soup, spacedSoup), checkParse), { numRuns: runs(400), seed: 8002 })
  })

  test('mutated good programs', () => {
    fc.assert(fc.property(mutated, checkParse), { numRuns: runs(400), seed: 8003 })
  })

  test('the good programs themselves parse (the mutations start from valid text)', () => {
    for (const src of GOOD) expect(parse(src).outputs.length).toBeGreaterThan(0)
  })
})

/** Nesting shapes, n levels deep: an opener repeated n times, the innermost operand, a closer. */
const SHAPES: Readonly<Record<string, readonly [open: string, inner: string, close: string]>> = {
  parentheses: ['(', 'x', ')'],
  calls: ['sin(', 'x', ')'],
  'two-argument calls': ['atan2(y, ', 'x', ')'],
  'where calls': ['where(x < 1, 2, ', 'x', ')'],
  signs: ['-', 'x', ''],
  'plus signs': ['+', 'x', ''],
  'power chains': ['x^', 'y', ''],
  '** chains': ['2**-', 'x', ''],
  'signed parentheses': ['-(', 'x', ')'],
  comparisons: ['(x < ', 'y', ')'],
  'sums in parentheses': ['(1 + ', 'x', ' * y)'],
  'unclosed parentheses': ['(', 'x', ''],
  'closers only': ['', 'x', ')'],
}
const LIMITS: Readonly<Record<string, ParseOptions>> = { defaults: {}, UNTRUSTED_TEXT, 'maxDepth MAX_DEPTH_CAP': { maxDepth: MAX_DEPTH_CAP } }

/** parse() either returns a Graph or throws a ParseError; anything else (a RangeError) fails. */
function graphOrParseError(src: string, options: ParseOptions): void {
  try {
    expect(parse(src, options).outputs.length).toBeGreaterThan(0)
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`parse of ${src.length} characters (${JSON.stringify(src.slice(0, 30))}…) threw ${String(e)}, not a ParseError`)
  }
}

describe('untrusted text: deep nesting is a Graph or a ParseError, never a stack overflow', () => {
  for (const [limits, options] of Object.entries(LIMITS)) {
    test(`every shape 10, 10^3 and 10^5 levels deep (${limits})`, () => {
      for (const [open, inner, close] of Object.values(SHAPES)) {
        for (const n of [10, 1000, 100_000]) graphOrParseError(`f = ${open.repeat(n)}${inner}${close.repeat(n)}`, options)
      }
    })
  }

  test('random mixtures of shapes, up to 10^5 levels in all', () => {
    const openers = Object.values(SHAPES)
    const mixture = fc.array(fc.record({ shape: fc.nat(openers.length - 1), depth: fc.integer({ min: 1, max: 20_000 }) }), { minLength: 1, maxLength: 5 })
    fc.assert(
      fc.property(mixture, fc.constantFrom(...Object.values(LIMITS)), (parts, options) => {
        const heads = parts.map(({ shape, depth }) => openers[shape]![0].repeat(depth)).join('')
        const tails = parts.map(({ shape, depth }) => openers[shape]![2].repeat(depth)).reverse().join('')
        graphOrParseError(`f = ${heads}x${tails}`, options)
      }),
      { numRuns: runs(30), seed: 21001 },
    )
  })

  test('flat giants: 10^5-term sums and products, 10^5 statements, 10^5-digit numbers, a 10^5-character name', () => {
    const giants = [
      `f = ${Array.from({ length: 100_000 }, (_, i) => `x*${i % 7}`).join(' + ')}`,
      `f = ${Array.from({ length: 100_000 }, () => 'x').join(' * ')} < 1`,
      ['s0 = x', ...Array.from({ length: 100_000 }, (_, i) => `s${i + 1} = s${i} - 1`)].join('\n'),
      Array.from({ length: 100_000 }, () => ';').join('') + 'f = x',
      `f = x + ${'9'.repeat(100_000)}`,
      `f = x + 0.${'3'.repeat(100_000)}`,
      `f = ${'x'.repeat(100_000)} + 1`,
      `f = x ${'+ '.repeat(100_000)}`,
    ]
    for (const src of giants) for (const options of Object.values(LIMITS)) graphOrParseError(src, options)
    // UNTRUSTED_TEXT stops a 10^5-factor product at its node budget.
    expect(() => parse(giants[1]!, UNTRUSTED_TEXT)).toThrow(/more than 100000 graph nodes/)
  })
})
