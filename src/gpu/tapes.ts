/**
 * Tapes: the interpreter's programs on the GPU. In: a kernel (its owner) and its program
 * (program.ts). Out: the program's tape and constants in GPU buffers (codegen/interpreter.ts
 * buildTape), uploaded on the kernel's first interpreter run and kept in a least-recently-used cache
 * of at most `cap` tapes; the oldest are freed beyond it (and uploaded again by their next run).
 * Each kernel owns its tape, so freeing one kernel's never touches another's run.
 */
import { buildTape } from '../codegen/interpreter.js'
import type { Program } from '../program.js'
import { COPY_DST, STORAGE, UNIFORM } from './buffers.js'
import type { GpuContext } from './context.js'
import type { Pipelines } from './pipelines.js'

/** A program's tape on the GPU. */
export interface HeldTape {
  readonly tape: GPUBuffer
  readonly consts: GPUBuffer
  /** Registers per binding. */
  readonly registers: number
  /** Dispatches per tile: one per tape chunk. */
  readonly chunks: number
  /** Group 1 for the register file it was last bound with. */
  group?: { readonly regs: GPUBuffer; readonly group: GPUBindGroup }
}

export class Tapes {
  /** By owning kernel, least recently used first. */
  readonly #held = new Map<object, HeldTape>()

  constructor(
    readonly ctx: GpuContext,
    readonly pipelines: Pipelines,
    /** Most tapes kept (GpuEngineOptions.tapeCacheSize). */
    readonly cap: number,
  ) {}

  /**
   * The tape of `owner`'s program, uploaded now unless held (call inside ctx.guard: it creates
   * buffers), as the most recently used.
   */
  get(owner: object, program: Program): HeldTape {
    let held = this.#held.get(owner)
    if (held) this.#held.delete(owner)
    else {
      const t = buildTape(program)
      const device = this.ctx.device
      const upload = (data: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>, label: string, usage: number) => {
        const buffer = device.createBuffer({ label, size: Math.max(data.byteLength, 32), usage: usage | COPY_DST })
        device.queue.writeBuffer(buffer, 0, data)
        return buffer
      }
      held = { tape: upload(t.words, 'wavegrad tape', UNIFORM), consts: upload(t.consts, 'wavegrad tape constants', STORAGE), registers: t.registers, chunks: t.chunks }
    }
    this.#held.set(owner, held)
    for (const [oldest, t] of this.#held) {
      if (this.#held.size <= this.cap) break
      this.#held.delete(oldest)
      free(t)
    }
    return held
  }

  /** Group 1 of the interpreter for `held` over the register file `regs` (made again when the file changed). */
  group(held: HeldTape, regs: GPUBuffer): GPUBindGroup {
    if (held.group?.regs !== regs) held.group = { regs, group: this.pipelines.interpreterGroup(held.tape, held.consts, regs) }
    return held.group.group
  }

  /** Frees a kernel's tape, if held. */
  drop(owner: object): void {
    const held = this.#held.get(owner)
    if (!held) return
    this.#held.delete(owner)
    free(held)
  }

  stats(): { tapes: number; buffers: number; bufferBytes: number } {
    let bufferBytes = 0
    for (const t of this.#held.values()) bufferBytes += t.tape.size + t.consts.size
    return { tapes: this.#held.size, buffers: 2 * this.#held.size, bufferBytes }
  }

  destroy(): void {
    for (const t of this.#held.values()) free(t)
    this.#held.clear()
  }
}

function free(t: HeldTape): void {
  t.tape.destroy()
  t.consts.destroy()
}
