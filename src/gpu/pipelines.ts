/**
 * Pipelines: one engine's compiled shaders. In: WGSL (a fused kernel's, or the interpreter's and the
 * reduction's, one each per engine). Out: compute pipelines, built once per WGSL text and kept in a
 * least-recently-used cache, each finished by a warm-up dispatch (a software adapter compiles at
 * first dispatch, not at pipeline creation).
 *
 * Errors: a WGSL error is a ShaderError with line:column and the source; anything else the device
 * reports is a DeviceError; a failed build leaves nothing cached.
 */
import { emitInterpreterWgsl } from '../codegen/interpreter.js'
import { BUILTIN_OPS, OP_NAMES } from '../ops.js'
import type { Program } from '../program.js'
import { CHUNK_BYTES } from '../codegen/interpreter.js'
import { STORAGE, UNIFORM, type Layouts, type SlotPool } from './buffers.js'
import type { GpuContext } from './context.js'
import { DeviceError, ShaderError } from './errors.js'
import { REDUCE_WGSL, reduceBindGroupLayout } from './reduce.js'

/** What group 1 of a pipeline binds: nothing, the interpreter's tape and registers, or a segment's scratch. */
export type Group1 = 'none' | 'interpreter' | 'scratch'

export class Pipelines {
  readonly reduceLayout: GPUBindGroupLayout
  readonly #layouts: Record<Group1, GPUPipelineLayout>
  /** Pipelines by WGSL text, in least-recently-used order (the first is evicted first). */
  readonly #cache = new Map<string, Promise<GPUComputePipeline>>()
  #interpreter: Promise<GPUComputePipeline> | undefined
  /** How many ops the interpreter was built for. */
  #interpreterOps = 0
  /** The registered ops the interpreter was built without, and why (see refusal). */
  #without: { readonly ops: ReadonlySet<string>; readonly error: ShaderError } | undefined
  #reducer: Promise<GPUComputePipeline> | undefined

  constructor(
    readonly ctx: GpuContext,
    readonly layouts: Layouts,
    readonly slots: SlotPool,
    /** Most pipelines kept (GpuEngineOptions.pipelineCacheSize). */
    readonly cacheSize: number,
    /** Bytes of the register file a software adapter makes with the interpreter (0: none). */
    readonly registerFile: number,
  ) {
    const device = ctx.device
    const layout = (group1?: GPUBindGroupLayout) => device.createPipelineLayout({ bindGroupLayouts: group1 ? [layouts.kernel, group1] : [layouts.kernel] })
    this.#layouts = { none: layout(), interpreter: layout(layouts.interpreter), scratch: layout(layouts.scratch) }
    this.reduceLayout = reduceBindGroupLayout(device)
  }

  /** Pipelines held now. */
  get size(): number {
    return this.#cache.size
  }

  /** A fused kernel's pipeline (cached by its WGSL; the most recently used kept longest). */
  fused(wgsl: string, group1: Group1): Promise<GPUComputePipeline> {
    let pipeline = this.#cache.get(wgsl)
    if (pipeline) {
      this.#cache.delete(wgsl)
    } else {
      pipeline = this.#build(wgsl, group1)
      const built = pipeline
      pipeline.catch(() => {
        if (this.#cache.get(wgsl) === built) this.#cache.delete(wgsl)
      })
    }
    this.#cache.set(wgsl, pipeline)
    for (const oldest of this.#cache.keys()) {
      if (this.#cache.size <= this.cacheSize) break
      this.#cache.delete(oldest)
    }
    return pipeline
  }

  /** The interpreter pipeline, built on first use (again after registerOp added ops: opcodes never move). */
  interpreter(): Promise<GPUComputePipeline> {
    if (this.#interpreterOps !== OP_NAMES.length) this.#interpreter = undefined
    if (!this.#interpreter) {
      this.#interpreterOps = OP_NAMES.length
      this.#without = undefined
      const building = this.#build(emitInterpreterWgsl(), 'interpreter').catch((e: unknown) => {
        // A registered op whose WGSL does not compile must not take every graph's interpreter with
        // it: the interpreter is built again without the registered ops, and refuses only the
        // programs that use one of them (refusal()).
        const custom = OP_NAMES.filter((n) => !BUILTIN_OPS.has(n))
        if (!(e instanceof ShaderError) || !custom.length) throw e
        this.#without = { ops: new Set(custom), error: e }
        return this.#build(emitInterpreterWgsl(this.#without.ops), 'interpreter')
      })
      this.#interpreter = building
      building.catch(() => {
        if (this.#interpreter === building) this.#interpreter = undefined
      })
    }
    return this.#interpreter
  }

  /**
   * Why the interpreter cannot run `program`: it uses a registered op the interpreter was built
   * without, because the interpreter with every registered op did not compile (that ShaderError,
   * whose line:column is in the op's WGSL). Ask after interpreter() resolved.
   */
  refusal(program: Program): ShaderError | undefined {
    const without = this.#without
    if (!without) return undefined
    const { graph } = program
    for (let id = 0; id < graph.nodeCount; id++) {
      const kind = graph.kind(id)
      if (without.ops.has(kind)) return without.error
    }
    return undefined
  }

  /** The parameter-gradient reduction (gpu/reduce.ts), built on first use. */
  reducer(): Promise<GPUComputePipeline> {
    if (!this.#reducer) {
      const { ctx } = this
      const building = (async () => {
        const [module, created] = ctx.guard(() => ctx.device.createShaderModule({ code: REDUCE_WGSL }), 'reduction shader creation failed')
        await created
        const layout = ctx.device.createPipelineLayout({ bindGroupLayouts: [this.reduceLayout] })
        try {
          return await ctx.device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' } })
        } catch (e) {
          throw ctx.lost ?? new DeviceError(`reduction pipeline creation failed: ${(e as Error).message}`)
        }
      })()
      this.#reducer = building
      building.catch(() => {
        if (this.#reducer === building) this.#reducer = undefined
      })
    }
    return this.#reducer
  }

  /** Group 1 of the interpreter over a tape, its constants and a register file; one tape chunk at a time. */
  interpreterGroup(tape: GPUBuffer, consts: GPUBuffer, regs: GPUBuffer): GPUBindGroup {
    return this.ctx.device.createBindGroup({
      layout: this.layouts.interpreter,
      entries: [
        { binding: 0, resource: { buffer: tape, size: CHUNK_BYTES } },
        { binding: 1, resource: { buffer: consts } },
        { binding: 2, resource: { buffer: regs } },
      ],
    })
  }

  /** Forgets every cached fused pipeline (the engine's destroy). */
  clear(): void {
    this.#cache.clear()
  }

  async #build(code: string, group1: Group1): Promise<GPUComputePipeline> {
    const { ctx, slots } = this
    const device = ctx.device
    const t0 = performance.now()
    const [module, created] = ctx.guard(() => device.createShaderModule({ code }), 'shader module creation failed')
    const info = await module.getCompilationInfo()
    const errors = info.messages.filter((m) => m.type === 'error')
    if (errors.length) {
      throw new ShaderError(errors.map((m) => ({ type: m.type, line: m.lineNum, column: m.linePos, message: m.message })), code)
    }
    await created
    let pipeline: GPUComputePipeline
    try {
      pipeline = await device.createComputePipelineAsync({ layout: this.#layouts[group1], compute: { module, entryPoint: 'main' } })
    } catch (e) {
      throw ctx.lost ?? new DeviceError(`compute pipeline creation failed: ${(e as Error).message}`)
    }
    const t1 = performance.now()
    // A software adapter's register file, made here with the interpreter unless one exists (see
    // GpuEngine's SOFTWARE_REGISTER_FILE); if it cannot be made, runs make theirs as they need them.
    if (group1 === 'interpreter' && this.registerFile > 0 && !ctx.destroyed && !ctx.lost) {
      try {
        const [made, reserved] = ctx.guard(() => slots.reserveRegs(this.registerFile), 'making the register file failed')
        await reserved.catch(() => made && slots.dropRegs(made))
      } catch {
        // (An allocation refused at once, as a browser may: the same as one that failed later.)
      }
    }
    // Warm-up: a driver may finish a pipeline at its first dispatch (lavapipe does much of its
    // compile there, on the queue), so that happens now, not in a run. It uses
    // buffers of its own so that it never races a run for the slots, except the register file,
    // which it binds as it is (never grown or replaced here, so a run that holds it loses
    // nothing) so that its zeroing at first use happens now.
    const [, warmed] = ctx.guard(() => {
      const enc = device.createCommandEncoder()
      const pass = enc.beginComputePass()
      pass.setPipeline(pipeline)
      pass.setBindGroup(0, slots.warmup())
      if (group1 === 'scratch') pass.setBindGroup(1, slots.warmupScratch())
      if (group1 === 'interpreter') {
        const buffer = (size: number, usage: number) => device.createBuffer({ label: 'wavegrad warm-up', size, usage })
        const regs = (this.registerFile > 0 && !ctx.destroyed ? slots.currentRegs : undefined) ?? buffer(16, STORAGE)
        pass.setBindGroup(1, this.interpreterGroup(buffer(CHUNK_BYTES, UNIFORM), buffer(16, STORAGE), regs), [0])
      }
      pass.dispatchWorkgroups(1)
      pass.end()
      device.queue.submit([enc.finish()])
    }, 'warm-up dispatch failed')
    await warmed
    await device.queue.onSubmittedWorkDone()
    if (ctx.debug) console.error(`[wavegrad] pipeline (${group1}, ${code.length} chars): created in ${(t1 - t0).toFixed(0)} ms, warmed up in ${(performance.now() - t1).toFixed(0)} ms`)
    // Only this pipeline's own errors (the scopes above) fail its build: an uncaptured error from
    // other work on the device fails the run it belongs to, not every later compile of this graph.
    if (ctx.lost) throw ctx.lost
    return pipeline
  }
}
