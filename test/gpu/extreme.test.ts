/**
 * Extreme constants, signed zeros and NaN on every GPU tier (issue 21, item 0), against the
 * float32-faithful reference: the forms an NVIDIA H200 got wrong in a 600-line program (the software
 * adapter got them right before and after; scripts/gpu-check.sh runs this file first on a real
 * card), and the forms where the fused tier lost a zero's sign or a NaN on the software adapter
 * (a compiler folding `x * 0.0`, a `-0.0` literal, `t - t`): fixed by building ±0 and subnormal
 * constants, and the repeat of a value in `-`, `/` and comparisons, at run time (ops.ts wgslFloat,
 * codegen/wgsl.ts operands).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createGpuEngine, evaluateCpu, parse, type GpuEngine, type Graph } from '../../src/index.js'
import { expectMatchesReference, randomArray, rng } from './setup.js'

const TIERS = [
  ['fused, budget 2,048', { tier: 'fused', segmentCost: 2048 }],
  ['fused, budget 32,768', { tier: 'fused', segmentCost: 32768 }],
  ['interpreter', { tier: 'interpreter' }],
] as const
const engines: GpuEngine[] = []
beforeAll(async () => {
  for (const [, options] of TIERS) engines.push(await createGpuEngine(options))
})
afterAll(() => engines.forEach((e) => e.destroy()))

/** The ten forms, each in f32's normal range for |x|, |y| ≤ 1 except where it adds 1e-38. */
const FORMS = [
  '(x*1e38)*1.5e-38',
  '(y*3e38)*(-2e-38)',
  'x*-0 + y',
  '-0 - x',
  '(x + 1e-38)',
  '1e38*1e-38*y',
  'max(x*1e38, -1e38)*1.2e-38',
  'exp(87 + 0.5*x)*1.2e-38',
  '(x*1e38 - y*1e38)*1e-37',
  'where(x > -0, y, -0)',
]

/** Same class bit for bit where it matters: NaN, ±∞, ±0; finite values compared by expectMatchesReference. */
function expectSameSpecials(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const kind = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+inf' : v === -Infinity ? '-inf' : Object.is(v, -0) ? '-0' : Object.is(v, 0) ? '+0' : 'finite')
  for (let b = 0; b < want.length; b++) expect(kind(got[b]!), `${what}[${b}] = ${got[b]}, reference ${want[b]}`).toBe(kind(want[b]!))
}

describe.each(TIERS.map(([name], i) => [name, i] as const))('%s', (_, i) => {
  test('a 600-line program that keeps adding the ten forms, each scaled by 0.01', async () => {
    const lines = ['e0 = x + y', ...Array.from({ length: 600 }, (_, k) => `e${k + 1} = e${k} + 0.01*(${FORMS[k % FORMS.length]})`)]
    const g = parse(lines.join('\n'))
    const r = rng(21)
    const b = { x: randomArray(r, 4096, -1, 1), y: randomArray(r, 4096, -1, 1) }
    expectMatchesReference(await engines[i]!.evaluate(g, b), g, b, 1e-4)
  })

  test.each(FORMS)('%s alone: values and derivatives, signed zeros included', async (form) => {
    const g = parse(`f = ${form}`)
    const b = Object.fromEntries(g.inputs.map((n) => [n, Float32Array.from([-1, -0.5, -0, 0, 1e-30, 0.5, 1])]))
    const got = await engines[i]!.evaluate(g, b)
    const want = evaluateCpu(g, b, { precision: 'f32' })
    expectSameSpecials(got.values.f!, want.values.f!, 'f')
    expectMatchesReference(got, g, b, 1e-5)
  })

  test.each([
    ['f = 1/(x*0)', 'the sign of x*0'],
    ['f = 1/(0*x)', 'the sign of 0*x'],
    ['f = 1/(x*0 + -0)', 'a -0 constant'],
    ['f = where(x > -0, y, -0)', 'a -0 branch'],
    ['f = 1/(x - x)', 'the derivative of 1/(x - x): -∞ + ∞'],
    ['f = x/x + (x == x)', 'x/x and x == x at 0, ±∞ and NaN'],
    ['f = 1/(x + -1e-39*y)', 'a subnormal constant'],
  ])('%s: %s, as the reference says', async (src) => {
    const g: Graph = parse(src)
    const values = [-2, -0.5, -0, 0, 0.5, 2, Infinity, -Infinity, NaN]
    const b = Object.fromEntries(g.inputs.map((n) => [n, Float32Array.from(values)]))
    const got = await engines[i]!.evaluate(g, b)
    const want = evaluateCpu(g, b, { precision: 'f32' })
    for (const o of g.outputs) {
      expectSameSpecials(got.values[o]!, want.values[o]!, o)
      for (const x of g.inputs) expectSameSpecials(got.jacobian[o]![x]!, want.jacobian[o]![x]!, `d${o}/d${x}`)
    }
  })
})
