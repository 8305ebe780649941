/**
 * The shape catalogue (bench/shapes.ts) on the adapter, against the float64 reference: every shape
 * on the interpreter, and on the fused tier at segment budgets ∞, 2,048 and 256.
 *
 * A fused pipeline build on the software adapter costs ~0.2 s per kernel plus time growing
 * super-linearly with its size (seconds to minutes), so in CI a fused plan RUNS only where it
 * builds in seconds (RUN_COST, MAX_KERNELS below) and is otherwise VALIDATED: every kernel of it
 * goes through Tint (createShaderModule + getCompilationInfo), which is fast at every size and is
 * where expressions nested past Tint's 512 used to fail. The test names say which. On a real GPU
 * (scripts/gpu-check.sh) WAVEGRAD_SHAPES_RUN_COST raises the bound so that more of them run.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { compareResults, createGpuEngine, evaluateCpu, planKernels, programOf, type Graph, type GpuEngine } from '../../src/index.js'
import { kernelSources } from '../../src/codegen/wgsl.js'
import { SHAPES, shapeBindings, type Shape } from '../../bench/shapes.js'

/** A fused plan runs when its total cost is at most this and it has at most MAX_KERNELS kernels. */
const RUN_COST = Number(process.env.WAVEGRAD_SHAPES_RUN_COST ?? 8000)
const MAX_KERNELS = Number(process.env.WAVEGRAD_SHAPES_MAX_KERNELS ?? 12)
const B = 257
const BUDGETS = [Infinity, 2048, 256] as const

let interpreter: GpuEngine
const fused = new Map<number, GpuEngine>()
beforeAll(async () => {
  interpreter = await createGpuEngine({ tier: 'interpreter' })
  for (const segmentCost of BUDGETS) fused.set(segmentCost, await createGpuEngine({ device: interpreter.device, tier: 'fused', segmentCost }))
})
afterAll(() => {
  for (const e of fused.values()) e.destroy()
  interpreter?.destroy()
})

const graphs = new Map<string, Graph>()
const graphOf = (shape: Shape) => {
  let g = graphs.get(shape.name)
  if (!g) graphs.set(shape.name, (g = shape.build()))
  return g
}

/**
 * GPU results against the float64 reference, within a tolerance in proportion to how far the
 * float32-faithful reference itself is (a long f32 sum or chain drifts on any f32 engine).
 */
function expectNearF64(gpu: Awaited<ReturnType<GpuEngine['evaluate']>>, g: Graph, b: Record<string, Float32Array>): void {
  const f64 = evaluateCpu(g, b)
  const drift = compareResults(evaluateCpu(g, b, { precision: 'f32' }), f64).maxError
  const c = compareResults(gpu, f64)
  expect(c.maxError, `${c.where} (f32 reference drift ${drift.toExponential(1)})`).toBeLessThanOrEqual(Math.max(1e-4, 8 * drift))
}

/** Every kernel through Tint: no compilation error (and no validation error). */
async function validate(engine: GpuEngine, wgsl: string): Promise<void> {
  const device = engine.device
  device.pushErrorScope('validation')
  const module = device.createShaderModule({ code: wgsl })
  const info = await module.getCompilationInfo()
  const scope = await device.popErrorScope()
  const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`)
  expect(errors).toEqual([])
  expect(scope?.message).toBeUndefined()
}

describe('the shape catalogue on the GPU, against float64', () => {
  for (const shape of SHAPES) {
    test(`${shape.name}: interpreter`, async () => {
      const g = graphOf(shape)
      const b = shapeBindings(shape, g, B, 7)
      const gpu = await interpreter.evaluate(g, b)
      expect(gpu.tier).toBe('interpreter')
      expectNearF64(gpu, g, b)
    })

    for (const segmentCost of BUDGETS) {
      const plan = planKernels(programOf(graphOf(shape)), { segmentCost })
      const cost = plan.kernels.reduce((sum, k) => sum + k.cost, 0)
      const run = cost <= RUN_COST && plan.kernels.length <= MAX_KERNELS
      const how = run ? 'built and run' : `validated by Tint only (cost ${cost}, ${plan.kernels.length} kernels)`
      test(`${shape.name}: fused at budget ${segmentCost}, ${how}`, async () => {
        const engine = fused.get(segmentCost)!
        const g = graphOf(shape)
        if (!run) {
          for (const k of kernelSources(plan)) await validate(engine, k.wgsl)
          return
        }
        const b = shapeBindings(shape, g, B, 7)
        const gpu = await engine.evaluate(g, b)
        expect(gpu.tier).toBe('fused')
        expectNearF64(gpu, g, b)
      })
    }
  }
})
