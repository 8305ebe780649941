/**
 * The shape catalogue (bench/shapes.ts) on the CPU: for every shape, the reference's Jacobian
 * against finite differences, the CPU engine (compiled JavaScript) equal to the reference to the
 * last bit, and every WGSL kernel the GPU engine would emit for it — at segment budgets ∞, 2,048
 * and 256 — nested at most 64 deep; the same nesting bound for random DAGs (fast-check) and the
 * interpreter's shader. (test/gpu/shapes.test.ts runs the same shapes on the adapter.)
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { compareResults, createCpuEngine, evaluateCpu, Graph, parse, ParseError, planKernels, programOf } from '../../src/index.js'
import { checkGradients, formatGradientReport } from '../../src/check.js'
import { emitInterpreterWgsl } from '../../src/codegen/interpreter.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { referenceEngine } from '../../src/transform.js'
import { PROGRAMS, SHAPES, shapeBindings } from '../../bench/shapes.js'
import { buildSmoothDag, SMOOTH_COUNT } from './helpers.js'
import { maxExpressionDepth } from './wgsl-depth.js'

/** The nesting every emitted kernel stays within (Tint's own limit is 512). */
const MAX_DEPTH = 64
const BUDGETS = [Infinity, 2048, 256]

describe('the depth measure itself', () => {
  test('counts binary chains, calls and parentheses as a parser nests them', () => {
    expect(maxExpressionDepth('fn f() { let a = b; }')).toBe(1)
    expect(maxExpressionDepth('fn f() { let a = (b + c) * d; }')).toBe(3)
    expect(maxExpressionDepth(`fn f() { let a = ${Array.from({ length: 100 }, (_, i) => `t${i}`).join(' + ')}; }`)).toBe(100)
    expect(maxExpressionDepth('fn f() { let a = select(b, c * d, bitcast<u32>(e) == 0u); }')).toBe(4)
    expect(maxExpressionDepth('fn f() { x[1u * s + b] = sin(sin(sin(y))); }')).toBe(4)
    // The old emitter's crash: a 1,500-term adjoint sum in one expression.
    expect(maxExpressionDepth(`fn f() { s = s + (${Array.from({ length: 1500 }, (_, i) => `t${i}`).join(' + ')}); }`)).toBeGreaterThan(512)
  })
})

describe('the shape catalogue on the CPU', () => {
  for (const shape of SHAPES) {
    test(`${shape.name}: reference vs finite differences, CPU engine equal to the reference, kernels nest ≤ ${MAX_DEPTH} at budgets ∞, 2048, 256`, async () => {
      const g = shape.build()
      const b = shapeBindings(shape, g, 257, 3)
      const ref = evaluateCpu(g, b)
      const cpu = await createCpuEngine({ compileAfter: 0, threads: 1 }).evaluate(g, b)
      expect(compareResults(cpu, ref).maxError).toBe(0)
      // Finite differences at a few points (kinks and jumps are skipped by the check, not counted).
      const points = Object.fromEntries(Object.entries(shapeBindings(shape, g, 6, 5)).map(([k, v]) => [k, Array.from(v)]))
      const report = await checkGradients(g, referenceEngine(), { bindings: points })
      expect(report.ok, formatGradientReport(report)).toBe(true)
      const rows = report.entries.filter((e) => e.input !== undefined)
      expect(rows.reduce((n, e) => n + 6 - e.fdSkipped!, 0), 'finite differences compared somewhere').toBeGreaterThan(rows.length)
      const program = programOf(g)
      for (const segmentCost of BUDGETS) {
        for (const k of kernelSources(planKernels(program, { segmentCost }))) expect(maxExpressionDepth(k.wgsl), `budget ${segmentCost}, kernel ${k.segment}`).toBeLessThanOrEqual(MAX_DEPTH)
      }
    })
  }

  test('sin(sin(…x)) as text: 500 levels parse; 600 are a ParseError naming the parser limit (the builder has none)', () => {
    const nest = (n: number) => `f = ${'sin('.repeat(n)}x${')'.repeat(n)}`
    expect(parse(nest(500)).outputs).toEqual(['f'])
    expect(() => parse(nest(600))).toThrow(ParseError)
    expect(() => parse(nest(600))).toThrow(/nested too deeply \(more than 500 levels\)/)
  })
})

describe('derivative graphs stay small: the Jacobian program of a graph is at most 4x its nodes per output', () => {
  for (const shape of [...PROGRAMS, ...SHAPES]) {
    test(shape.name, () => {
      const g = shape.build()
      const program = programOf(g)
      const forward = programOf(g, { jacobian: false }).levels.liveCount
      expect(program.levels.liveCount).toBeLessThanOrEqual(4 * g.outputs.length * forward)
    })
  }
})

describe('nesting of every kernel, whatever the graph', () => {
  test(`random DAGs at random budgets, Jacobians and values only (fast-check): every kernel ≤ ${MAX_DEPTH}`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ op: fc.nat(SMOOTH_COUNT - 1), a: fc.nat(), b: fc.nat() }), { minLength: 1, maxLength: 120 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(1, 16, 100, 2048, Infinity),
        fc.boolean(),
        (inputs, steps, outputs, segmentCost, jacobian) => {
          const g = new Graph()
          const pool = buildSmoothDag(g, Array.from({ length: inputs }, (_, i) => `x${i}`), steps)
          outputs.forEach((o, k) => g.output(`o${k}`, pool[o % pool.length]!.expr))
          for (const k of kernelSources(planKernels(programOf(g, { jacobian }), { segmentCost }))) expect(maxExpressionDepth(k.wgsl)).toBeLessThanOrEqual(MAX_DEPTH)
        },
      ),
      { numRuns: 200, seed: 17 },
    )
  })

  test(`the interpreter's shader ≤ ${MAX_DEPTH}`, () => {
    expect(maxExpressionDepth(emitInterpreterWgsl())).toBeLessThanOrEqual(MAX_DEPTH)
  })
})
