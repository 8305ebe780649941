/**
 * Parser fuzzing (issue 8): random strings, token soups and mutated programs through parse(). The
 * only exception it may raise is a ParseError whose line:column lies inside the source and whose
 * `source` is that line; no input may hang it (each parse well under a second); a program that
 * parses has an output and evaluates on the reference without an exception.
 * WAVEGRAD_FUZZ_RUNS=<n> runs every property n times (default: a CI-sized few hundred in all).
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { evaluateCpu, parse, ParseError } from '../../src/index.js'

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
