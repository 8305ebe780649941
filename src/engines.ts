/**
 * createEngine: the engine a user gets without choosing. In: engine options, `backend` ('auto' by
 * default) and `fallback`. Out: for 'auto' the AutoEngine (each run on the GPU or on the CPU
 * engine's threads, by a measured cost model: auto.ts); for 'gpu' the GPU engine (or, with `fallback:
 * 'cpu'` where WebGPU has no device, the CPU engine); for 'cpu' the CPU engine. Every result names
 * its backend, so a CPU result can never pass for a GPU one.
 */
import { AutoEngine, createAutoEngine } from './auto.js'
import { CpuEngine, CPU_BACKEND } from './cpu/engine.js'
import { BindingError } from './errors.js'
import { describe } from './graph.js'
import { createGpuEngine, type GpuEngine, type GpuEngineOptions } from './gpu/engine.js'
import { DeviceError } from './gpu/errors.js'

/** Any engine createEngine returns; `engine.kind` tells which ('auto' | 'gpu' | 'cpu'). */
export type Engine = AutoEngine | GpuEngine | CpuEngine

export interface EngineOptions extends GpuEngineOptions {
  /**
   * 'auto' (default): each run where the calibrated cost model predicts it is faster, GPU or CPU
   * threads (`engine.explain(graph, B)`); 'gpu': the GPU engine only; 'cpu': the CPU engine only
   * (float64).
   */
  readonly backend?: 'auto' | 'gpu' | 'cpu'
  /** backend 'gpu' without WebGPU: 'cpu' returns the CPU engine; 'none' (default) throws DeviceError. */
  readonly fallback?: 'cpu' | 'none'
}

/**
 * @example
 * const engine = await createEngine()
 * engine.explain(g, 1 << 20).why      // which backend, and the predicted ms of each
 * (await engine.evaluate(g, b)).backend
 */
export async function createEngine(options?: EngineOptions & { readonly backend?: 'auto' }): Promise<AutoEngine>
export async function createEngine(options: EngineOptions & { readonly backend: 'gpu' }): Promise<GpuEngine | CpuEngine>
export async function createEngine(options: EngineOptions & { readonly backend: 'cpu' }): Promise<CpuEngine>
export async function createEngine(options?: EngineOptions): Promise<Engine>
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const { backend = 'auto', fallback, ...rest } = options
  if (backend !== 'auto' && backend !== 'gpu' && backend !== 'cpu') throw new BindingError(`backend must be 'auto', 'gpu' or 'cpu', got ${describe(backend)}`)
  if (backend === 'auto') return createAutoEngine(rest)
  if (backend === 'cpu') return new CpuEngine(CPU_BACKEND)
  try {
    return await createGpuEngine(rest)
  } catch (e) {
    if (fallback !== 'cpu' || !(e instanceof DeviceError)) throw e
    return new CpuEngine(`${CPU_BACKEND}; no WebGPU: ${e.message}`)
  }
}
