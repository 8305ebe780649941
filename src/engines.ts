/**
 * createEngine: the GPU engine where WebGPU exists, else — only when asked — the CPU engine. In:
 * GPU engine options plus `fallback`. Out: an engine with compile/evaluate/destroy whose results
 * name their backend, so a CPU result can never pass for a GPU one.
 */
import { CpuEngine, CPU_BACKEND } from './cpu/engine.js'
import { createGpuEngine, type GpuEngine, type GpuEngineOptions } from './gpu/engine.js'
import { DeviceError } from './gpu/errors.js'

/** Either engine; `engine.kind` tells which ('gpu' | 'cpu'). */
export type Engine = GpuEngine | CpuEngine

export interface EngineOptions extends GpuEngineOptions {
  /** Without WebGPU: 'cpu' returns the compiled-JavaScript CPU engine; 'none' (default) throws DeviceError. */
  readonly fallback?: 'cpu' | 'none'
}

/**
 * @example
 * const engine = await createEngine({ fallback: 'cpu' })
 * engine.kind          // 'gpu', or 'cpu' where no WebGPU adapter exists
 * (await engine.evaluate(g, b)).backend
 */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  try {
    return await createGpuEngine(options)
  } catch (e) {
    if (options.fallback !== 'cpu' || !(e instanceof DeviceError)) throw e
    return new CpuEngine(`${CPU_BACKEND}; no WebGPU: ${e.message}`)
  }
}
