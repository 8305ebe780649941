/**
 * The expression language: precedence and associativity, statements, numbers, inputs/outputs,
 * labels; malformed programs with their exact line and column; and a fuzz that only ParseError
 * ever escapes parse().
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Graph, MAX_DEPTH_CAP, ParseError, UNTRUSTED_TEXT, evaluateCpu, parse, type ParseOptions } from '../../src/index.js'
import { at } from './helpers.js'

/** The value of a program's single output at the given inputs. */
function value(src: string, inputs: Record<string, number> = {}, out = 'out'): number {
  const g = parse(src)
  const r = evaluateCpu(g, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, [v]])))
  return at(r.values[out], 0)
}

describe('operators', () => {
  test('^ is right-associative: 2^3^2 = 2^9 = 512', () => {
    expect(value('2^3^2')).toBe(512)
    expect(value('(2^3)^2')).toBe(64)
    expect(value('2**3**2')).toBe(512)
    expect(value('x^y^z', { x: 2, y: 3, z: 2 })).toBe(512)
  })

  test('^ binds tighter than unary minus: -x^2 = -(x^2)', () => {
    expect(value('-x^2', { x: 3 })).toBe(-9)
    expect(value('(-x)^2', { x: 3 })).toBe(9)
    expect(value('-2^2')).toBe(-4)
    // the exponent is a unary expression: 2^-1 = 0.5, 2^-1^2 = 2^(-(1^2))
    expect(value('2^-1')).toBe(0.5)
    expect(value('2^-x^2', { x: 1 })).toBe(0.5)
    expect(value('2^+3')).toBe(8)
  })

  test('** is an alias of ^', () => {
    const g = parse('f = x**3')
    const h = parse('f = x^3')
    expect(g.kind(g.outputNode('f'))).toBe('pow')
    expect(value('x**3', { x: 2 })).toBe(value('x^3', { x: 2 }))
    expect(h.kind(h.outputNode('f'))).toBe('pow')
  })

  test('precedence and associativity of + - * /', () => {
    expect(value('1 + 2*3')).toBe(7)
    expect(value('(1 + 2)*3')).toBe(9)
    expect(value('2*3^2')).toBe(18)
    expect(value('8/4/2')).toBe(1)
    expect(value('8-4-2')).toBe(2)
    expect(value('8-4+2')).toBe(6)
    expect(value('2*-3')).toBe(-6)
    expect(value('--3')).toBe(3)
    expect(value('-+-3')).toBe(3)
    expect(value('1 - -1')).toBe(2)
    expect(value('x - y*z/w', { x: 10, y: 6, z: 2, w: 4 })).toBe(7)
  })

  test('comparisons give 0 or 1, bind loosest, and compare sums', () => {
    expect(value('1 < 2')).toBe(1)
    expect(value('2 < 1')).toBe(0)
    expect(value('2 <= 2')).toBe(1)
    expect(value('3 >= 4')).toBe(0)
    expect(value('3 > 2')).toBe(1)
    expect(value('x == y', { x: 2, y: 2 })).toBe(1)
    expect(value('x != y', { x: 2, y: 2 })).toBe(0)
    expect(value('1 + 2 < 2 + 2')).toBe(1)
    expect(value('(1 < 2) + (3 < 4)')).toBe(2)
    expect(value('where(x > 0, x, -x)', { x: -4 })).toBe(4)
  })

  test('functions are the op names, with their arities', () => {
    expect(value('max(2, 3)')).toBe(3)
    expect(value('min(2, 3)')).toBe(2)
    expect(value('atan2(1, 1)')).toBe(Math.PI / 4)
    expect(value('pow(2, 10)')).toBe(1024)
    expect(value('sqrt(16) + abs(-2) + relu(-1)')).toBe(6)
    expect(value('where(0, 1, 2)')).toBe(2)
    expect(value('add(1, mul(2, 3))')).toBe(7)
    expect(value('lt(1, 2)')).toBe(1)
    expect(value('sin(x)^2 + cos(x)^2', { x: 0.7 })).toBeCloseTo(1, 15)
  })
})

describe('statements', () => {
  test('; and new lines separate statements; blank lines and # comments are ignored', () => {
    const src = '# a program\n\na = x * 2   # double\n\n  b = a + 1 ; c = b * b\n# end\n'
    const g = parse(src)
    expect(g.inputs).toEqual(['x'])
    expect(g.outputs).toEqual(['c'])
    const r = evaluateCpu(g, { x: [3] })
    expect(at(r.values.c, 0)).toBe(49)
    expect(at(r.jacobian.c?.x, 0)).toBe(2 * 7 * 2)
  })

  test('a new line inside parentheses continues the statement', () => {
    const g = parse('f = (x +\n  y) * max(x,\n  y # comment\n)\ng = f + 1')
    expect(g.outputs).toEqual(['g'])
    expect(at(evaluateCpu(g, { x: [2], y: [3] }).values.g, 0)).toBe(16)
  })

  test('Windows line endings and tabs', () => {
    const g = parse('a = x\t* 2\r\nb = a + 1\r\n')
    expect(g.outputs).toEqual(['b'])
    expect(at(evaluateCpu(g, { x: [3] }).values.b, 0)).toBe(7)
  })

  test('numbers: 3, 2.5, 1e-3, .5, 5., 1E3, 2e+2', () => {
    expect(value('3')).toBe(3)
    expect(value('2.5')).toBe(2.5)
    expect(value('1e-3')).toBe(0.001)
    expect(value('.5')).toBe(0.5)
    expect(value('5.')).toBe(5)
    expect(value('5.*2')).toBe(10)
    expect(value('1E3')).toBe(1000)
    expect(value('2e+2')).toBe(200)
    expect(value('0.1 + 0.2')).toBe(0.1 + 0.2)
    expect(value('1e308 * 10')).toBe(Infinity)
  })

  test('inputs in order of first appearance, across statements', () => {
    expect(parse('f = y + x*z').inputs).toEqual(['y', 'x', 'z'])
    expect(parse('f = sin(b) * a').inputs).toEqual(['b', 'a'])
    expect(parse('u = c\nv = u + a * c + b').inputs).toEqual(['c', 'a', 'b'])
  })

  test('outputs: assigned names no later statement uses, in assignment order', () => {
    expect(parse('p = x; q = x*2; r = p + 1').outputs).toEqual(['q', 'r'])
    expect(parse('a = x; b = y; c = a*b').outputs).toEqual(['c'])
    expect(parse('a = x; b = a; c = a').outputs).toEqual(['b', 'c'])
  })

  test('a bare expression is the output out; a lone name too', () => {
    const g = parse('a = x * 2\na + 1')
    expect(g.outputs).toEqual(['out'])
    expect(at(evaluateCpu(g, { x: [4] }).values.out, 0)).toBe(9)
    const h = parse('x')
    expect(h.outputs).toEqual(['out'])
    expect(h.outputNode('out')).toBe(h.inputNode('x'))
    expect(at(evaluateCpu(h, { x: [4] }).jacobian.out?.x, 0)).toBe(1)
    // a later statement may read `out`
    expect(parse('x + 1\ny = out * 2').outputs).toEqual(['y'])
  })

  test('assigned names label their nodes; inputs keep their own names', () => {
    const g = parse('b = a*4; c = b+3')
    const labels = Array.from({ length: g.nodeCount }, (_, id) => [g.kind(id), g.label(id)])
    expect(labels).toContainEqual(['mul', 'b'])
    expect(labels).toContainEqual(['input', 'a'])
    expect(g.label(g.outputNode('c'))).toBe('c')
    // an alias of an input does not rename it
    const h = parse('u = x; v = u + 1')
    expect(h.label(h.inputNode('x'))).toBe('x')
  })

  test('hash-consing and folding apply to parsed programs', () => {
    const g = parse('f = x*y + y*x + 2*3')
    const f = g.outputNode('f')
    // (x*y + x*y) + 6: one mul node used twice, one constant
    expect(g.kind(f)).toBe('add')
    const [sum, six] = g.args(f)
    expect(g.constValue(six!)).toBe(6)
    const [p, q] = g.args(sum!)
    expect(p).toBe(q)
  })

  test('a function name can also be an assigned name or an input', () => {
    expect(value('sin = 2; f = sin(sin)', {}, 'f')).toBe(Math.sin(2))
    expect(parse('f = exp + 1').inputs).toEqual(['exp'])
  })

  test('long names and long number literals', () => {
    const long = 'v'.repeat(3000)
    const g = parse(`${long} = x + 1\nf = ${long} * 2`)
    expect(g.outputs).toEqual(['f'])
    expect(parse(`f = ${long} + 1`).inputs).toEqual([long])
    expect(value(`0.${'3'.repeat(600)}`)).toBe(1 / 3)
    expect(value(`${'0'.repeat(500)}7`)).toBe(7)
  })

  test('nesting a few hundred levels deep is fine', () => {
    expect(value(`${'('.repeat(300)}x${')'.repeat(300)} + 1`, { x: 1 })).toBe(2)
    expect(value(`${'-'.repeat(300)}x`, { x: 5 })).toBe(5)
    expect(value(`${'sin('.repeat(200)}0${')'.repeat(200)}`)).toBe(0)
  })

  test('long flat expressions and many statements', () => {
    const terms = Array.from({ length: 20000 }, (_, i) => `x*${i % 10}`).join(' + ')
    expect(value(terms, { x: 1 })).toBe(20000 * 4.5)
    const lines = ['s0 = x'].concat(Array.from({ length: 5000 }, (_, i) => `s${i + 1} = s${i} + 1`)).join('\n')
    const g = parse(lines)
    expect(g.outputs).toEqual(['s5000'])
    expect(at(evaluateCpu(g, { x: [0.5] }).values.s5000, 0)).toBe(5000.5)
  })

  test('parse rejects a non-string with TypeError', () => {
    expect(() => parse(3 as unknown as string)).toThrow(TypeError)
  })
})

describe('malformed programs: exact line and column', () => {
  /** Expects a ParseError at line:column whose message quotes the line with a caret under it. */
  function expectError(src: string, line: number, column: number, reason?: RegExp): ParseError {
    let caught: unknown
    try {
      parse(src)
    } catch (e) {
      caught = e
    }
    expect(caught, `no error for ${JSON.stringify(src)}`).toBeInstanceOf(ParseError)
    const e = caught as ParseError
    expect([e.line, e.column], `${JSON.stringify(src)}: ${e.message}`).toEqual([line, column])
    const text = src.split('\n')[line - 1]!.replace(/\r$/, '')
    expect(e.source).toBe(text)
    const lines = e.message.split('\n')
    expect(lines[0]).toContain(`${line}:${column}`)
    expect(lines[1]).toBe(`  ${text}`)
    expect(lines[2]).toBe(`  ${' '.repeat(column - 1)}^`)
    if (reason) expect(e.reason).toMatch(reason)
    return e
  }

  test('unclosed parenthesis: reported where the ) is missing, naming the (', () => {
    const e = expectError('f = (x + 1', 1, 11, /'\)'/)
    expect(e.message).toContain('1:5')
    expectError('f = (x + 1\ng = 2', 2, 1, /'\)'/)
    expectError('f = sin(x', 1, 10, /'\)'/)
  })

  test('stray )', () => {
    expectError('f = x + 1)', 1, 10)
    expectError('f = )', 1, 5)
  })

  test('unknown function', () => {
    expectError('f = foo(x)', 1, 5, /unknown function 'foo'/)
    expectError('f = constructor(x)', 1, 5, /unknown function/)
  })

  test('wrong arity', () => {
    expectError('f = atan2(x)', 1, 5, /2 arguments, got 1/)
    expectError('f = sin(x, y)', 1, 5, /1 argument, got 2/)
    expectError('f = sin()', 1, 5, /got 0/)
    expectError('f = 1 + where(x > 0, x)', 1, 9, /3 arguments/)
  })

  test('missing operand at the end of a line or program', () => {
    expectError('f = x +\ng = 1', 1, 8, /missing/)
    expectError('f = x ^', 1, 8)
    expectError('f =', 1, 4)
    expectError('f = x *;', 1, 8)
  })

  test('two operators in a row', () => {
    expectError('f = x * / y', 1, 9)
    expectError('f = x + * y', 1, 9)
    expectError('f = x < > y', 1, 9)
  })

  test('bad character', () => {
    expectError('f = x $ y', 1, 7, /unexpected character/)
    expectError('f = x @ y', 1, 7)
    expectError('f = x × y', 1, 7)
    expectError('f = x !y', 1, 7)
    expectError('f = "x"', 1, 5)
  })

  test('malformed numbers: 1e, 1.2.3, 2x, a lone dot, too large', () => {
    expectError('f = 1e + x', 1, 6, /malformed number/)
    expectError('f = 1.2.3', 1, 8, /malformed number/)
    expectError('f = 2x', 1, 6, /malformed number/)
    expectError('f = . + 1', 1, 5, /malformed number/)
    expectError('f = 1e999', 1, 5, /too large/)
  })

  test('reassignment names the first assignment', () => {
    const e = expectError('a = x\na = y', 2, 1, /already assigned/)
    expect(e.message).toContain('1:1')
    expectError('a = x; a = a + 1', 1, 8, /already assigned/)
  })

  test('use before assignment names the use', () => {
    const e = expectError('f = a + 1\na = 2', 2, 1, /before this assignment/)
    expect(e.message).toContain('1:5')
  })

  test('a second bare expression', () => {
    expectError('x + 1\nx + 2', 2, 1, /second bare expression/)
    expectError('x + 1; y = 2; y * 3', 1, 15, /second bare expression/)
  })

  test('an empty program, or only comments and blank lines', () => {
    expectError('', 1, 1, /no output/)
    expectError('# nothing\n\n  ', 3, 3, /no output/)
    expectError(';;', 1, 3, /no output/)
  })

  test('chained comparison', () => {
    expectError('f = x < y < z', 1, 11, /chained/)
    expectError('f = 1 == 2 != 3', 1, 12, /chained/)
  })

  test('names starting with __', () => {
    expectError('f = __x + 1', 1, 5, /reserved/)
    expectError('__f = x', 1, 1, /reserved/)
    expectError('f = x\ng = __proto__', 2, 5, /reserved/)
  })

  test('an error on line 3 of a commented multi-line program', () => {
    const src = '# header comment\na = x * 2   # double\nb = a + * 3\nc = b'
    expectError(src, 3, 9)
  })

  test('stray tokens after a complete expression', () => {
    expectError('f x', 1, 3, /expected an operator/)
    expectError('f = 1,2', 1, 6)
    expectError('f = x = 2', 1, 7)
    expectError('= x', 1, 1)
    expectError('f = sin x', 1, 9)
  })

  test('deep nesting is a ParseError, never a RangeError', () => {
    for (const src of [
      `f = ${'('.repeat(5000)}x${')'.repeat(5000)}`,
      `f = ${'-'.repeat(5000)}x`,
      `f = ${'sin('.repeat(5000)}x${')'.repeat(5000)}`,
      `f = ${Array.from({ length: 5000 }, () => '2').join('^')}`,
      `f = ${'(-'.repeat(3000)}x${')'.repeat(3000)}`,
    ]) {
      let caught: unknown
      try {
        parse(src)
      } catch (e) {
        caught = e
      }
      expect(caught).toBeInstanceOf(ParseError)
      const e = caught as ParseError
      expect(e.line).toBe(1)
      expect(e.column).toBeGreaterThan(4)
      expect(e.reason).toMatch(/nested too deeply/)
    }
  })
})

describe('fuzz', () => {
  const pieces = [
    'x', 'y', 'a', 'out', 'sin', 'max', 'where', 'pow', 'atan2', 'constructor', 'toString', '__x', '_', 'f1',
    '1', '2.5', '0', '.', 'e', '1e', '3e-2', '1e999',
    '(', ')', ',', '+', '-', '*', '/', '^', '**', '<', '<=', '>', '>=', '==', '!=', '=', '!',
    '#', ';', '\n', ' ', '\t', '\r', '$',
  ]
  const program = fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((p) => p.join(''))

  test('random programs over the grammar either parse or raise ParseError', () => {
    fc.assert(
      fc.property(program, (src) => {
        try {
          const g = parse(src)
          expect(g).toBeInstanceOf(Graph)
          expect(g.outputs.length).toBeGreaterThan(0)
        } catch (e) {
          if (!(e instanceof ParseError)) throw e
          expect(e.line).toBeGreaterThanOrEqual(1)
          expect(e.column).toBeGreaterThanOrEqual(1)
        }
      }),
      { numRuns: 3000, seed: 20240611 },
    )
  })

  test('random statements built from the grammar parse, and evaluate to the same as a JS evaluation', () => {
    // Expression trees rendered to source, with their value computed directly in JS.
    type Tree = { src: string; v: number }
    const leaf = fc.oneof(
      fc.integer({ min: 0, max: 9 }).map((n): Tree => ({ src: String(n), v: n })),
      fc.constantFrom<Tree>({ src: 'x', v: 0.75 }, { src: 'y', v: -1.25 }),
    )
    const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
      t: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.tuple(tie('t'), fc.constantFrom('+', '-', '*'), tie('t')).map(([l, op, r]): Tree => ({
          src: `(${l.src} ${op} ${r.src})`,
          v: op === '+' ? l.v + r.v : op === '-' ? l.v - r.v : l.v * r.v,
        })),
        tie('t').map((t): Tree => ({ src: `sin(${t.src})`, v: Math.sin(t.v) })),
        tie('t').map((t): Tree => ({ src: `-${t.src}`, v: -t.v })),
      ),
    })).t
    fc.assert(
      fc.property(tree, (t) => {
        const g = parse(`f = ${t.src} + x*0 + y*0`)
        const r = evaluateCpu(g, { x: [0.75], y: [-1.25] })
        const got = at(r.values.f, 0)
        expect(Math.abs(got - t.v)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(t.v)))
      }),
      { numRuns: 300, seed: 7 },
    )
  })
})

describe('constants and parameter declarations', () => {
  test('pi and e are the float64 constants, never inputs', () => {
    const g = parse('f = pi*x + e')
    expect(g.inputs).toEqual(['x'])
    expect(evaluateCpu(g, { x: [2] }).values.f![0]).toBe(Math.PI * 2 + Math.E)
  })

  test('a program that assigns or declares e or pi before reading it has its own (the seed program assigns e)', () => {
    const seed = parse('e = (a*4 + 3)*(a + 2)')
    expect(seed.outputs).toEqual(['e'])
    expect(evaluateCpu(seed, { a: [3] }).values.e![0]).toBe(75)
    const g = parse('param e\nf = e*x + pi')
    expect(g.params).toEqual(['e'])
    expect(evaluateCpu(g, { e: 2, x: [3] }).values.f![0]).toBe(6 + Math.PI)
  })

  test('`param a, b` declares parameters: inputs in declaration order, gradients summed over the batch', () => {
    const g = parse('param a, b\nloss = (a*x - b)^2')
    expect(g.inputs).toEqual(['a', 'b', 'x'])
    expect(g.params).toEqual(['a', 'b'])
    const xs = [1, 2, 3]
    const r = evaluateCpu(g, { x: xs, a: 0.5, b: 2 })
    // d/da (a x - b)^2 = 2 (a x - b) x;  d/db = -2 (a x - b)
    expect(r.gradients!.loss!.a).toBeCloseTo(xs.reduce((s, x) => s + 2 * (0.5 * x - 2) * x, 0), 12)
    expect(r.gradients!.loss!.b).toBeCloseTo(xs.reduce((s, x) => s - 2 * (0.5 * x - 2), 0), 12)
    expect(Object.keys(r.jacobian.loss!)).toEqual(['x'])
  })

  test('`param` is still an ordinary name where no declaration is meant', () => {
    expect(parse('param = 3*x').outputs).toEqual(['param'])
    expect(parse('f = param + 1').inputs).toEqual(['param'])
  })

  test.each([
    ['f = e*x\ne = 3', 2, 1, "'e' is read as the constant 2.718281828459045 at 1:5"],
    ['f = 2*pi\nparam pi', 2, 7, "'pi' is read as the constant"],
    ['f = 2*x\nparam x', 2, 7, "'x' is used as an input at 1:7 before this declaration"],
    ['param a\nparam a', 2, 7, "parameter 'a' is already declared"],
    ['param sin', 1, 7, "'sin' is a function name"],
    ['g = 1 + x\nparam g', 2, 7, "'g' is assigned at 1:1"],
    ['param a,', 1, 9, 'expected a parameter name'],
    ['param a b', 1, 9, "expected an operator, ';' or a new line"],
    ['param\nx = 2*y', 1, 6, "'param' needs the names it declares"],
    ['param a; a = 1', 1, 10, "'a' is a parameter (declared at 1:7)"],
  ])('%j is a ParseError at %i:%i', (src, line, column, message) => {
    expect(() => parse(src)).toThrow(expect.objectContaining({ name: 'ParseError', line, column, message: expect.stringContaining(message) }))
  })
})

/** The ParseError parse(src, options) throws (the test fails if it returns). */
function limitError(src: string, options: ParseOptions): ParseError {
  try {
    parse(src, options)
  } catch (e) {
    if (e instanceof ParseError) return e
    throw e
  }
  throw new Error(`parse(${JSON.stringify(src.slice(0, 40))}) did not throw`)
}

describe('limits for untrusted text (ParseOptions)', () => {
  test('maxLength: refused at the first character past the limit, naming the option; exactly the limit parses', () => {
    const src = 'a = x\nb = a + 1'
    expect(parse(src, { maxLength: src.length }).outputs).toEqual(['b'])
    const e = limitError(src, { maxLength: 8 })
    expect([e.line, e.column]).toEqual([2, 3])
    expect(e.reason).toMatch(/longer than 8 characters \(15; the maxLength option/)
    expect([limitError('f = x + 1', { maxLength: 5 }).line, limitError('f = x + 1', { maxLength: 5 }).column]).toEqual([1, 6])
  })

  test('maxNodes: refused at the token whose node crossed the limit; exactly the limit parses', () => {
    // Nodes in order: x, 2, mul, y, add (5).
    const src = 'a = x*2\nb = a + y'
    expect(parse(src, { maxNodes: 5 }).nodeCount).toBe(5)
    const add = limitError(src, { maxNodes: 4 })
    expect([add.line, add.column]).toEqual([2, 7])
    expect(add.reason).toMatch(/more than 4 graph nodes \(the maxNodes option/)
    const y = limitError(src, { maxNodes: 3 })
    expect([y.line, y.column]).toEqual([2, 9])
    // Shared nodes (a name read again, x*x again, the constant 1 again) cost nothing: x, mul, add, 1, add.
    expect(parse('f = x*x + x*x + 1', { maxNodes: 5 }).outputs).toEqual(['f'])
    const p = limitError('param a, b\nf = a*b', { maxNodes: 1 })
    expect([p.line, p.column]).toEqual([1, 10])
  })

  test('maxDepth: parentheses, calls, signs and powers each count a level; refused at the opener past the limit', () => {
    const shapes: [string, number][] = [
      ['f = ((x))', 6],
      ['f = sin(sin(x))', 12],
      ['f = --x', 6],
      ['f = x^y^z', 8],
      ['f = x**y**z', 9],
      ['f = (-x)', 6],
      ['f = 2^(x)', 7],
    ]
    for (const [src, column] of shapes) {
      expect(parse(src, { maxDepth: 2 }).outputs).toEqual(['f'])
      const e = limitError(src, { maxDepth: 1 })
      expect([src, e.line, e.column]).toEqual([src, 1, column])
      expect(e.reason).toBe('expression nested too deeply (more than 1 levels): the maxDepth option sets this limit')
    }
  })

  test('default maxDepth is 500; MAX_DEPTH_CAP parses every shape without a stack overflow', () => {
    const parens = (n: number) => `f = ${'('.repeat(n)}x${')'.repeat(n)}`
    expect(parse(parens(500)).outputs).toEqual(['f'])
    expect(limitError(parens(501), {}).reason).toMatch(/more than 500 levels/)
    const n = MAX_DEPTH_CAP
    for (const src of [parens(n), `f = ${'sin('.repeat(n)}x${')'.repeat(n)}`, `f = ${'atan2(1, '.repeat(n)}x${')'.repeat(n)}`, `f = ${'(-'.repeat(n / 2)}x${')'.repeat(n / 2)}`]) {
      expect(parse(src, { maxDepth: n }).outputs).toEqual(['f'])
    }
    expect(limitError(parens(n + 1), { maxDepth: n }).reason).toMatch(new RegExp(`more than ${n} levels`))
  })

  test('bad options are a TypeError naming the option', () => {
    for (const [options, pattern] of [
      [{ maxDepth: 0 }, /maxDepth must be a whole number from 1 to 1000 \(MAX_DEPTH_CAP/],
      [{ maxDepth: MAX_DEPTH_CAP + 1 }, /maxDepth .* got 1001/],
      [{ maxDepth: Infinity }, /maxDepth/],
      [{ maxNodes: -1 }, /maxNodes must be a whole number from 1 to Infinity, got -1/],
      [{ maxNodes: NaN }, /maxNodes .* got NaN/],
      [{ maxLength: 2.5 }, /maxLength .* got 2.5/],
      [{ maxLength: '100' }, /maxLength .* got '100'/],
      [{ maxDepht: 5 }, /unknown parse option 'maxDepht'/],
      [null, /parse options must be an object, got null/],
    ] as [unknown, RegExp][]) {
      expect(() => parse('f = x', options as ParseOptions)).toThrow(TypeError)
      expect(() => parse('f = x', options as ParseOptions)).toThrow(pattern)
    }
    expect(parse('f = x', { maxLength: Infinity, maxNodes: Infinity }).outputs).toEqual(['f'])
  })

  test('UNTRUSTED_TEXT: frozen, and an oversize program is refused before it is read', () => {
    expect(Object.isFrozen(UNTRUSTED_TEXT)).toBe(true)
    expect(UNTRUSTED_TEXT).toEqual({ maxLength: 1_000_000, maxNodes: 100_000, maxDepth: 500 })
    const e = limitError(`f = x${' '.repeat(UNTRUSTED_TEXT.maxLength)}`, UNTRUSTED_TEXT)
    expect(e.reason).toMatch(/maxLength/)
    // 10^5 + 1 nodes: x, then 50,000 (constant, add) pairs of distinct constants.
    const big = `f = x${Array.from({ length: 50_000 }, (_, i) => ` + ${i + 2}*x`).join('')}`
    expect(limitError(big, UNTRUSTED_TEXT).reason).toMatch(/more than 100000 graph nodes/)
  })

  test('the CLI refuses an oversize program file with the limit in the message (spawned)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wavegrad-parse-'))
    try {
      const file = join(dir, 'big.wg')
      writeFileSync(file, `f = x${' '.repeat(UNTRUSTED_TEXT.maxLength)}`)
      const root = fileURLToPath(new URL('../..', import.meta.url))
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'eval', file, '--batch', '1', '--backend', 'cpu'], { cwd: root, encoding: 'utf8', timeout: 60_000 })
      expect(r.status).toBe(1)
      expect(r.stderr).toContain(`${file}:1:1000001: ParseError: the program is longer than 1000000 characters (1000005; the maxLength option sets this limit)`)
      // The long line is quoted around the column, not whole.
      expect(r.stderr.length).toBeLessThan(1000)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
