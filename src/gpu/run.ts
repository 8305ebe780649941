/**
 * The runner: one engine's tile loop. In: a job (a kernel's plan and pipelines, or its tape for the
 * interpreter; checked bindings; where the rows go). Out: every row of every binding written into
 * the sink (Float32Arrays read back, or a GPUBuffer), with parameter rows summed on the GPU where
 * the sink asks.
 *
 * A run uploads tile by tile into SLOTS buffer slots in turn, so that up to SLOTS tiles are in
 * flight: tile i's readback (map, copy out) overlaps the upload and compute of the tiles after it.
 * A batch of at least 2·MIN_PIPELINED_TILE bindings is cut into at least PIPELINE_TILES tiles for
 * that (one tile would serialize upload, compute and readback). Buffers, staging included, grow
 * only and are reused across runs. Runs on one engine
 * are serialized (exclusive: they share the slots). Out of memory: the slots are freed and the run
 * starts again with tiles half as large.
 */
import { abortable, type Progress } from '../abort.js'
import { isGpuBinding, type BindingSource, type CheckedBindings } from '../bindings.js'
import { CHUNK_BYTES, INTERPRETER_WORKGROUP, interpreterTileLimit, LANES_PER_THREAD, registerBytes } from '../codegen/interpreter.js'
import { BindingError } from '../errors.js'
import { dispatchGrid, tileSize, type Plan } from '../plan.js'
import type { Program } from '../program.js'
import type { BuildQueue } from './builds.js'
import type { SlotPool, Slot, UploadStaging } from './buffers.js'
import { destroyedInFlight, type GpuContext } from './context.js'
import { DeviceError } from './errors.js'
import type { Pipelines } from './pipelines.js'
import { CHUNK, LANES } from './reduce.js'
import type { HeldTape, Tapes } from './tapes.js'

/** Tiles shrink (halving) down to this after an out-of-memory allocation before the run gives up. */
const MIN_TILE = 1024

/** Buffer slots, and so tiles in flight at once. */
export const SLOTS = 3
/** A large batch is cut into at least this many tiles, so that their stages overlap. */
export const PIPELINE_TILES = 4
/** ... but no tile smaller than this for it (a tile's fixed cost: submissions, a map round trip). */
export const MIN_PIPELINED_TILE = 1 << 16

/** Where a run's rows go: into Float32Arrays (readback) or into a GPUBuffer of rows × size floats. */
export type Sink =
  | {
      readonly kind: 'readback'
      /** One array per plan row; undefined for a row not read back (a parameter's, summed instead). */
      readonly rows: readonly (Float32Array | undefined)[]
      /** Rows summed on the GPU: their row indices, and float64 totals (added to). */
      readonly sums?: { readonly rows: readonly number[]; readonly totals: Float64Array }
    }
  | { readonly kind: 'buffer'; readonly buffer: GPUBuffer }

/**
 * Milliseconds spent per stage of one run (with `profile: true`: the stages of each tile run one
 * after another, each awaited, so they add up; without it they overlap).
 */
export interface Timings {
  /** Checking the bindings and allocating the result arrays (kernel.run, before the tile loop). */
  prepare: number
  /** JavaScript's part of the upload: copying the inputs into the upload buffer (or queue.writeBuffer). */
  pack: number
  /** The GPU's part of the upload: the submission until the queue is done with it. */
  copyIn: number
  /** pack + copyIn. */
  upload: number
  dispatch: number
  /** Copying the results into the staging buffer (the queue's part of the readback). */
  copyOut: number
  /** Waiting for mapAsync of the staging buffer. */
  map: number
  /** Copying out of the mapped range into the result arrays (their first touch: page faults of fresh memory land here). */
  unpack: number
  /** copyOut + map + unpack. */
  readback: number
  /** The whole run, from kernel.run's call to its return. */
  total: number
  tiles: number
}

/** Timings with every stage at zero. */
export function noTimings(): Timings {
  return { prepare: 0, pack: 0, copyIn: 0, upload: 0, dispatch: 0, copyOut: 0, map: 0, unpack: 0, readback: 0, total: 0, tiles: 0 }
}

/** One run of a compiled kernel. */
export interface Job {
  /** The kernel running (it owns its interpreter tape). */
  readonly owner: object
  readonly program: Program
  /** The plan (rows, workgroup size; for the fused tier its segments). */
  readonly plan: Plan
  /** The fused tier: the plan's pipelines in dispatch order (they may come with a finer plan). Absent: the interpreter. */
  readonly fused?: Promise<{ readonly plan: Plan; readonly pipelines: readonly GPUComputePipeline[] }>
  readonly bindings: CheckedBindings
  readonly sink: Sink
  /** Measure upload / dispatch / readback separately (serializes them). */
  readonly profile?: boolean
  /** Skip the compute dispatch (benchmarks: the transfer floor). */
  readonly transferOnly?: boolean
  /** Per-binding weights of the parameter sums (one more row of the inputs buffer), if any. */
  readonly weights?: BindingSource | undefined
  /** Stops the run between tiles (and while it waits for its pipelines). */
  readonly signal?: AbortSignal | undefined
  /** Told as tiles finish (read back, or for a buffer sink, done on the GPU). */
  readonly onProgress?: ((progress: Progress) => void) | undefined
}

/** Everything one attempt's tile loop needs. */
interface TileRun {
  readonly plan: Plan
  readonly pipelines: readonly GPUComputePipeline[]
  readonly sources: readonly BindingSource[]
  readonly size: number
  readonly tile: number
  readonly sink: Sink
  readonly profile: boolean
  readonly compute: boolean
  readonly timings: Timings
  /** Per slot: the readback (or check) in flight; execute() settles these. */
  readonly pending: (Promise<void> | undefined)[]
  readonly tape: HeldTape | undefined
  /** Scratch words per binding of a segmented fused plan (0 otherwise). */
  readonly scratchRows: number
  readonly steps: Uint32Array<ArrayBuffer>
  readonly weights: BindingSource | undefined
  readonly reducer: GPUComputePipeline | undefined
  readonly signal: AbortSignal | undefined
  /** Counts finished bindings and tells the job's onProgress. */
  readonly progress: ((len: number) => void) | undefined
  readonly gen: Generation
}

export interface RunnerOptions {
  /** Largest number of bindings per tile. */
  readonly maxTile: number
  /** Inputs go through the slots' upload buffers ('staging') instead of queue.writeBuffer. */
  readonly staged: boolean
  /** Bytes of register file an interpreter tile may use. */
  readonly registerFile: number
  /** Tiles a large batch is cut into at least (GpuEngineOptions.pipelineTiles). */
  readonly pipelineTiles: number
}

/** What lives on one device: a new device (after a loss) gets a new generation of all of it. */
export interface Generation {
  readonly ctx: GpuContext
  readonly slots: SlotPool
  readonly pipelines: Pipelines
  readonly tapes: Tapes
}

export class Runner {
  #queue: Promise<unknown> = Promise.resolve()
  /** Lowered after an out-of-memory allocation: later runs start with tiles no larger. */
  #tileCap = Infinity
  #scratch = new Float32Array(0)
  #gen: Generation
  #generation = 0
  /** GpuEngineOptions.maxHostBytes (admission.ts); GpuEngine.maxHostBytes sets it. */
  maxHostBytes: number | undefined

  constructor(
    gen: Generation,
    /** Tier 'auto''s background builds, and the first runs they wait for. */
    readonly builds: BuildQueue,
    readonly options: RunnerOptions,
    /**
     * After `lost` (a generation's context whose device was lost): resolves true once a new
     * generation is in place (the engine's recovery), false where there will be none.
     */
    readonly revive: (lost: GpuContext) => Promise<boolean> = async () => false,
  ) {
    this.#gen = gen
  }

  /** The current device's context, slots, pipelines and tapes. */
  get ctx(): GpuContext {
    return this.#gen.ctx
  }

  get slots(): SlotPool {
    return this.#gen.slots
  }

  get pipelines(): Pipelines {
    return this.#gen.pipelines
  }

  get tapes(): Tapes {
    return this.#gen.tapes
  }

  /** Counts generations: a kernel's fused pipelines belong to the one they were built in. */
  get generation(): number {
    return this.#generation
  }

  /** Moves every later run to a new device's generation (the old one's device was lost). */
  renew(gen: Generation): void {
    this.#gen = gen
    this.#generation++
    this.#tileCap = Infinity
  }

  /** Resolves when every run queued so far has settled. */
  async idle(): Promise<void> {
    await this.#queue
  }

  /** Runs a job after every earlier one (runs share the slots); fails fast on a destroyed or lost engine. */
  run(job: Job): Promise<Timings | undefined> {
    const earlier = this.#queue
    // A run aborted while it waits for earlier ones rejects at once and never starts; the run
    // after it still waits for the earlier ones.
    const run = abortable(earlier, job.signal).then(async () => {
      // A device lost since the last run: wait for the engine's recovery (a check fails without one).
      if (this.ctx.lost) await this.revive(this.ctx)
      this.ctx.check()
      job.signal?.throwIfAborted()
      return this.#execute(job)
    })
    // (Settled to undefined: a chain of results would keep every earlier run's alive.)
    this.#queue = Promise.allSettled([earlier, run]).then(() => undefined)
    return run
  }

  async #execute(job: Job): Promise<Timings | undefined> {
    // One attempt runs on one generation, whatever a recovery does meanwhile.
    const gen = this.#gen
    const { ctx } = gen
    const { bindings, sink, weights } = job
    const { size, sources } = bindings
    const profile = job.profile ?? false
    const compute = !job.transferOnly
    const { signal } = job
    const { onProgress } = job
    const built = await abortable(ctx.unlessBroken(job.fused ?? gen.pipelines.interpreter().then((p) => ({ plan: job.plan, pipelines: [p] }))), signal)
    const { plan, pipelines } = built
    const reducer = sink.kind === 'readback' && sink.sums ? await abortable(ctx.unlessBroken(gen.pipelines.reducer()), signal) : undefined
    ctx.check()
    if (size === 0) return undefined
    const t0 = performance.now()
    let tape: HeldTape | undefined
    if (!job.fused) {
      const refused = gen.pipelines.refusal(job.program)
      if (refused) throw refused
      const [t, uploaded] = ctx.guard(() => gen.tapes.get(job.owner, job.program), 'uploading the interpreter tape failed')
      await uploaded
      tape = t
    }
    // A segmented plan's kernels always bind a scratch (group 1), even when nothing crosses a cut.
    const scratchRows = tape || !plan.scratch ? 0 : Math.max(1, plan.scratch.rows)
    const steps = new Uint32Array(sources.map((s) => (typeof s === 'number' ? 0 : 1)))
    for (;;) {
      // A large batch goes in pipelineTiles tiles at least: their stages overlap.
      const pieces = this.options.pipelineTiles
      const pipelined = pieces > 1 && size >= 2 * MIN_PIPELINED_TILE ? Math.max(MIN_PIPELINED_TILE, Math.ceil(size / pieces)) : size
      let tile = tileSize(plan, ctx.device.limits, size, Math.min(this.options.maxTile, this.#tileCap, pipelined), tape?.registers ?? scratchRows)
      // The register file is padded to whole workgroups: keep it within one binding too.
      if (tape) tile = Math.max(1, Math.min(tile, interpreterTileLimit(tape.registers, this.options.registerFile)))
      if (this.#scratch.length < tile) this.#scratch = new Float32Array(tile)
      const timings = noTimings()
      const pending: (Promise<void> | undefined)[] = Array.from({ length: SLOTS }, () => undefined)
      // A retry starts the sums again (and its progress from 0: the caller's onProgress is forwardOnly).
      if (sink.kind === 'readback') sink.sums?.totals.fill(0)
      let done = 0
      const progress = onProgress && ((len: number) => onProgress({ done: (done += len), total: size }))
      try {
        try {
          await this.#tiles({ plan, pipelines, sources, size, tile, sink, profile, compute, timings, pending, tape, scratchRows, steps, weights, reducer, signal, progress, gen })
        } finally {
          // Let the other slot's readback finish before the next run may reuse (and map) its buffers.
          await Promise.allSettled(pending)
        }
        await Promise.all(pending)
        ctx.throwIfBroken()
      } catch (e) {
        // Out of memory: free the slots and run again with tiles half as large (every row is
        // written again, so nothing of the failed attempt survives); below MIN_TILE, report it.
        if (!(e instanceof DeviceError && e.reason === 'out-of-memory') || tile <= MIN_TILE || ctx.lost || ctx.destroyed) throw e
        gen.slots.destroy()
        this.#tileCap = Math.max(MIN_TILE, Math.floor(tile / 2))
        if (ctx.debug) console.error(`[wavegrad] out of GPU memory at ${tile} bindings per tile; retrying with ${this.#tileCap}`)
        continue
      }
      timings.total = performance.now() - t0
      return profile ? timings : undefined
    }
  }

  /** The tile loop of one attempt. */
  async #tiles(run: TileRun): Promise<void> {
    const { plan, pipelines, sources, size, tile, sink, profile, compute, timings, pending, tape, scratchRows, steps, weights, reducer, signal, progress, gen } = run
    const { ctx } = gen
    const device = ctx.device
    const limits = device.limits
    const nIn = plan.inputs.length
    const inRows = nIn + (weights === undefined ? 0 : 1)
    const rowCount = plan.rows.length
    const outBytes = rowCount * tile * 4
    // Readback: every row in one copy, or (with sums) the rows read back one by one and the
    // partial sums after them.
    const sums = sink.kind === 'readback' ? sink.sums : undefined
    const readRows = sink.kind === 'readback' ? plan.rows.map((_, r) => r).filter((r) => sink.rows[r] !== undefined) : []
    const chunks = Math.ceil(tile / CHUNK)
    const sumWords = sums ? sums.rows.length * chunks * LANES : 0
    const stagingBytes = sums ? (readRows.length * tile + sumWords) * 4 : outBytes
    // The tile's input rows: the inputs, then the weights. Those in JS arrays go through the slot's
    // upload buffer (option upload: 'staging').
    const rows = weights === undefined ? sources : [...sources, weights]
    const staged = this.options.staged && rows.some((src) => typeof src !== 'number' && !isGpuBinding(src))
    for (let start = 0, t = 0; start < size; start += tile, t++) {
      const len = Math.min(tile, size - start)
      const k = t % SLOTS
      if (pending[k]) await pending[k]
      ctx.check()
      signal?.throwIfAborted()
      let allocation: [readonly [Slot, GPUBindGroup | undefined, UploadStaging | undefined], Promise<void>]
      try {
        allocation = ctx.guard(() => {
          const slot = gen.slots.get(k, Math.max(inRows, 1) * tile * 4, outBytes, nIn)
          if (sums) gen.slots.sum(slot, sumWords, sums.rows.length, gen.pipelines.reduceLayout)
          const staging = staged ? gen.slots.upload(slot, Math.max(inRows, 1) * tile * 4) : undefined
          if (tape) return [slot, gen.tapes.group(tape, gen.slots.regs(registerBytes(tape.registers, tile))), staging] as const
          return [slot, scratchRows ? gen.slots.scratch(scratchRows * tile * 4) : undefined, staging] as const
        }, 'buffer allocation failed')
      } catch (e) {
        // A browser may throw (RangeError) where Dawn reports an out-of-memory error.
        throw new DeviceError(`buffer allocation failed for ${tile} bindings per tile: ${(e as Error).message}`, 'out-of-memory')
      }
      const [[slot, group1, staging], allocated] = allocation
      await allocated
      if (staging) {
        try {
          await staging.ready()
        } catch (e) {
          throw ctx.failure(() => new DeviceError(`mapping the upload buffer failed: ${(e as Error).message}`))
        }
      }
      const grid = tape ? dispatchGrid(Math.ceil(len / LANES_PER_THREAD), INTERPRETER_WORKGROUP, limits.maxComputeWorkgroupsPerDimension) : dispatchGrid(len, plan.workgroupSize, limits.maxComputeWorkgroupsPerDimension)
      const upload = (enc: GPUCommandEncoder) => {
        device.queue.writeBuffer(slot.params, 0, new Uint32Array([len, tile, grid.threadsPerRow, 0]))
        if (nIn) device.queue.writeBuffer(slot.steps, 0, steps)
        let view: Float32Array | undefined
        try {
          view = staging?.view()
        } catch (e) {
          // Destroying the engine (its buffers) or the device unmaps the buffer under a waiting run.
          if (ctx.destroyed) throw destroyedInFlight()
          throw ctx.lost ?? new DeviceError(`the upload buffer is no longer mapped (was the device destroyed?): ${(e as Error).message}`, 'lost')
        }
        const copies = rows.map((src, i) => this.#upload(device.queue, enc, slot.inputs, i * tile, src, start, len, view))
        if (staging) {
          staging.unmap()
          copies.forEach((copied, i) => copied && enc.copyBufferToBuffer(staging.buffer, i * tile * 4, slot.inputs, i * tile * 4, len * 4))
        }
        if (sums) {
          device.queue.writeBuffer(slot.sum!.uniform, 0, new Uint32Array([len, tile, chunks, weights === undefined ? 0 : 1, nIn * tile, 0, 0, 0]))
          device.queue.writeBuffer(slot.sum!.which, 0, new Uint32Array(sums.rows))
        }
      }
      const dispatch = (enc: GPUCommandEncoder) => {
        if (!compute) return
        const pass = enc.beginComputePass()
        pass.setBindGroup(0, slot.bindGroup)
        if (tape) {
          // The interpreter: one dispatch per tape chunk; registers carry over between them.
          pass.setPipeline(pipelines[0]!)
          for (let c = 0; c < tape.chunks; c++) {
            pass.setBindGroup(1, group1!, [c * CHUNK_BYTES])
            pass.dispatchWorkgroups(grid.x, grid.y)
          }
        } else {
          // Fused: one kernel, or a segmented plan's kernels in order (the scratch carries over).
          if (group1) pass.setBindGroup(1, group1)
          for (const pipeline of pipelines) {
            pass.setPipeline(pipeline)
            pass.dispatchWorkgroups(grid.x, grid.y)
          }
        }
        if (sums) {
          pass.setPipeline(reducer!)
          pass.setBindGroup(0, slot.sum!.group)
          pass.dispatchWorkgroups(Math.ceil(len / CHUNK), sums.rows.length)
        }
        pass.end()
      }
      const deliver = (enc: GPUCommandEncoder) => {
        if (sink.kind === 'readback' && !sums) enc.copyBufferToBuffer(slot.results, 0, gen.slots.staging(slot, outBytes), 0, outBytes)
        else if (sink.kind === 'readback') {
          const staging = gen.slots.staging(slot, stagingBytes)
          readRows.forEach((r, i) => enc.copyBufferToBuffer(slot.results, r * tile * 4, staging, i * tile * 4, len * 4))
          enc.copyBufferToBuffer(slot.sum!.partials, 0, staging, readRows.length * tile * 4, sumWords * 4)
        } else for (let r = 0; r < rowCount; r++) enc.copyBufferToBuffer(slot.results, r * tile * 4, sink.buffer, (r * size + start) * 4, len * 4)
      }
      const submit = (...stages: ((enc: GPUCommandEncoder) => void)[]) => {
        const enc = device.createCommandEncoder()
        for (const stage of stages) stage(enc)
        device.queue.submit([enc.finish()])
      }
      const readback = () => (sink.kind === 'readback' ? this.#readback(ctx, slot, sink, readRows, tile, start, len, stagingBytes, chunks, profile ? timings : undefined) : Promise.resolve())
      if (profile) {
        // Each stage submitted alone and awaited: JS packing, the upload on the queue, the
        // dispatch, the copy to staging, then (in #readback) the map and the copy out.
        let mark = performance.now()
        const lap = () => {
          const spent = performance.now() - mark
          mark = performance.now()
          return spent
        }
        const stage = async (f: () => void, what: string) => {
          const [, ok] = ctx.guard(f, what)
          await ok
          await device.queue.onSubmittedWorkDone()
          return lap()
        }
        try {
          let encoder: GPUCommandEncoder | undefined
          const [, packed] = ctx.guard(() => {
            encoder = device.createCommandEncoder()
            upload(encoder)
          }, 'upload failed')
          timings.pack += lap()
          await packed
          timings.copyIn += await stage(() => device.queue.submit([encoder!.finish()]), 'upload failed')
        } finally {
          staging?.remap()
        }
        timings.dispatch += await stage(() => submit(dispatch), 'dispatch failed')
        timings.copyOut += await stage(() => submit(deliver), 'copying results failed')
        await readback()
        progress?.(len)
        mark = performance.now()
      } else {
        let checks: Promise<void>
        try {
          checks = ctx.guard(() => submit(upload, dispatch, deliver), 'GPU submission failed')[1]
        } finally {
          staging?.remap()
        }
        pending[k] = checks.then(readback).then(progress && (() => progress(len)))
        pending[k]!.catch(() => undefined)
      }
      timings.tiles++
    }
    timings.upload = timings.pack + timings.copyIn
    timings.readback = timings.copyOut + timings.map + timings.unpack
  }

  /**
   * One row of a tile's inputs, bindings [start, start + len), at word `word` of `buffer`: a
   * broadcast number or a GPU buffer straight into `buffer`; an array into `view` (the slot's
   * mapped upload buffer, at the same word; returns true: the caller copies it over) or, without
   * one, by queue.writeBuffer.
   */
  #upload(queue: GPUQueue, enc: GPUCommandEncoder, buffer: GPUBuffer, word: number, src: BindingSource, start: number, len: number, view: Float32Array | undefined): boolean {
    const offset = word * 4
    if (typeof src === 'number') {
      // A broadcast number: one float, read by every thread (its step is 0).
      queue.writeBuffer(buffer, offset, new Float32Array([src]))
      return false
    }
    if (isGpuBinding(src)) {
      try {
        enc.copyBufferToBuffer(src.buffer, (src.offset ?? 0) + start * 4, buffer, offset, len * 4)
      } catch (e) {
        // WebGPU refuses an object that only looks like a GPUBuffer with a bare TypeError.
        throw new BindingError(`a { buffer } binding is not a GPUBuffer this device can copy from: ${(e as Error).message}`)
      }
      return false
    }
    if (view) {
      // Typed arrays convert to float32 in one set(); a plain array element by element.
      if (ArrayBuffer.isView(src)) view.set((src as unknown as Float64Array).subarray(start, start + len), word)
      else for (let j = 0; j < len; j++) view[word + j] = src[start + j]!
      return true
    }
    if (src instanceof Float32Array) {
      queue.writeBuffer(buffer, offset, src.buffer, src.byteOffset + start * 4, len * 4)
    } else {
      const scratch = this.#scratch
      if (ArrayBuffer.isView(src)) scratch.set((src as unknown as Float64Array).subarray(start, start + len))
      else for (let j = 0; j < len; j++) scratch[j] = src[start + j]!
      queue.writeBuffer(buffer, offset, scratch.buffer, 0, len * 4)
    }
    return false
  }

  /**
   * Copies one tile's rows out of the staging buffer into the sink's arrays (row readRows[i] at
   * i × tile), and adds its partial sums (after the rows, `chunks` × LANES per summed row) to the
   * totals in float64, in index order.
   */
  async #readback(ctx: GpuContext, slot: Slot, sink: Extract<Sink, { kind: 'readback' }>, readRows: readonly number[], tile: number, start: number, len: number, bytes: number, chunks: number, timings?: Timings): Promise<void> {
    const staging = slot.staging!
    const mapping = performance.now()
    try {
      await staging.mapAsync(1, 0, bytes)
    } catch (e) {
      throw ctx.failure(() => new DeviceError(`reading results back failed: ${(e as Error).message}`))
    }
    const unpacking = performance.now()
    if (timings) timings.map += unpacking - mapping
    const data = new Float32Array(staging.getMappedRange(0, bytes))
    if (sink.sums) {
      readRows.forEach((r, i) => sink.rows[r]!.set(data.subarray(i * tile, i * tile + len), start))
      const base = readRows.length * tile
      const used = Math.ceil(len / CHUNK) * LANES
      sink.sums.rows.forEach((_, j) => {
        let s = 0
        for (let c = 0; c < used; c++) s += data[base + j * chunks * LANES + c]!
        sink.sums!.totals[j]! += s
      })
    } else {
      for (let r = 0; r < sink.rows.length; r++) sink.rows[r]!.set(data.subarray(r * tile, r * tile + len), start)
    }
    staging.unmap()
    if (timings) timings.unpack += performance.now() - unpacking
  }
}
