/**
 * Buffer slots: the GPU memory one tile of a run uses. In: byte sizes a tile needs. Out: a Slot
 * (inputs, results, optional staging for readback, params uniform, per-input steps) and its bind
 * group, grown only when a bigger tile arrives and reused by every later run.
 *
 * Bindings of the kernel (the same words in WGSL, see codegen/wgsl.ts):
 *   0 inputs  : array<f32>  read-only storage   input k of binding b at inputs[k * stride + b * steps[k]]
 *   1 results : array<f32>  storage             row r of binding b at results[r * stride + b]
 *   2 params  : uniform { n, stride, row, pad }
 *   3 steps   : array<u32>  read-only storage   1 for an array input, 0 for a broadcast number
 * Group 1 of a segmented kernel: 0 scratch (array<f32>, storage), what crosses its cuts (plan.ts).
 */

// WebGPU enum values (globals like GPUBufferUsage are absent in Node).
export const MAP_READ = 0x1
export const MAP_WRITE = 0x2
export const COPY_SRC = 0x4
export const COPY_DST = 0x8
export const UNIFORM = 0x40
export const STORAGE = 0x80
const COMPUTE_STAGE = 0x4

/**
 * GPUBufferUsage and GPUShaderStage values for code that must run where those globals are absent
 * (Node's Dawn) or type-check outside a browser: the demo, tests, benches, examples.
 */
export const BUFFER_USAGE = { MAP_READ, MAP_WRITE, COPY_SRC, COPY_DST, UNIFORM, STORAGE } as const
export const SHADER_STAGE = { VERTEX: 0x1, FRAGMENT: 0x2, COMPUTE: COMPUTE_STAGE } as const

export interface Slot {
  readonly inputs: GPUBuffer
  readonly results: GPUBuffer
  readonly params: GPUBuffer
  readonly steps: GPUBuffer
  readonly bindGroup: GPUBindGroup
  /** MAP_READ copy of results, created on the first readback. */
  staging?: GPUBuffer
  /** MAP_WRITE buffer the inputs are written into and copied from (engine option upload: 'staging'). */
  upload?: UploadStaging
  /** The parameter-gradient reduction's buffers and bind group (gpu/reduce.ts), on first use. */
  sum?: SumResources
}

/**
 * A slot's persistent upload buffer (see Slot.upload): written while mapped, unmapped for the
 * submission that copies out of it, mapped again right after that submission (remap), so that the
 * next tile on the slot finds it ready. Every unmap must be followed by remap, even when the
 * submission fails: until then `ready` does not settle.
 */
export class UploadStaging {
  #mapped: Promise<void> = Promise.resolve()
  #remap: (() => void) | undefined

  constructor(readonly buffer: GPUBuffer) {}

  /** Settles when the buffer is mapped (rejects if mapping failed: device lost, buffer destroyed). */
  ready(): Promise<void> {
    return this.#mapped
  }

  /** The mapped buffer as floats (only between ready and unmap). */
  view(): Float32Array {
    return new Float32Array(this.buffer.getMappedRange())
  }

  unmap(): void {
    this.buffer.unmap()
    this.#mapped = new Promise<void>((resolve, reject) => {
      this.#remap = () => this.buffer.mapAsync(MAP_MODE_WRITE).then(resolve, reject)
    })
    this.#mapped.catch(() => undefined)
  }

  /** Maps the buffer again once the GPU is done with it (after the submission that reads it). */
  remap(): void {
    const go = this.#remap
    this.#remap = undefined
    go?.()
  }
}

/** GPUMapMode.WRITE (a number: Node's webgpu package does not install the GPUMapMode global). */
const MAP_MODE_WRITE = 2

/** Per slot: where the reduction writes partial sums, its uniform, and which rows it sums. */
export interface SumResources {
  readonly partials: GPUBuffer
  readonly uniform: GPUBuffer
  readonly which: GPUBuffer
  readonly group: GPUBindGroup
  /** The slot buffers the group was made for (rebuilt when the slot grows). */
  readonly results: GPUBuffer
  readonly inputs: GPUBuffer
}

/** The bind group layout every wavegrad kernel uses (so one slot serves every pipeline). */
export function kernelBindGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage' } },
      { binding: 1, visibility: COMPUTE_STAGE, buffer: { type: 'storage' } },
      { binding: 2, visibility: COMPUTE_STAGE, buffer: { type: 'uniform' } },
      { binding: 3, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage' } },
    ],
  })
}

/** Group 1 of the interpreter: its tape, constants and register file. */
export function interpreterBindGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'uniform', hasDynamicOffset: true } },
      { binding: 1, visibility: COMPUTE_STAGE, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: COMPUTE_STAGE, buffer: { type: 'storage' } },
    ],
  })
}

/** Group 1 of a segmented fused kernel: its scratch buffer. */
export function scratchBindGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  return device.createBindGroupLayout({ entries: [{ binding: 0, visibility: COMPUTE_STAGE, buffer: { type: 'storage' } }] })
}

/** The bind group layouts of one device's pipelines: every kernel's group 0, and each kind's group 1. */
export interface Layouts {
  readonly kernel: GPUBindGroupLayout
  readonly interpreter: GPUBindGroupLayout
  readonly scratch: GPUBindGroupLayout
}

export function createLayouts(device: GPUDevice): Layouts {
  return { kernel: kernelBindGroupLayout(device), interpreter: interpreterBindGroupLayout(device), scratch: scratchBindGroupLayout(device) }
}

/**
 * Grow-only buffer slots, two of them, so tile i+1 can upload while tile i is read back; and one
 * register file both slots share (the interpreter's registers, or a segmented kernel's scratch
 * rows): a tile's dispatches run after the previous tile's in queue order anyway, and on a
 * software adapter creating and zeroing a register file of ~128 MiB costs hundreds of ms, so it
 * is made once (see GpuEngine.interpreter) and not once per slot or per graph.
 */
export class SlotPool {
  #slots: (Slot | undefined)[] = []
  #regs: GPUBuffer | undefined
  #scratchGroup: { readonly buffer: GPUBuffer; readonly group: GPUBindGroup } | undefined
  #warmup: GPUBindGroup | undefined
  #warmupScratch: GPUBindGroup | undefined

  constructor(
    readonly device: GPUDevice,
    readonly layouts: Layouts,
  ) {}

  /** Slot i with room for the given byte sizes (and `inputs` step words). */
  get(i: number, inputBytes: number, resultBytes: number, inputs: number): Slot {
    const old = this.#slots[i]
    if (old && old.inputs.size >= inputBytes && old.results.size >= resultBytes && old.steps.size >= 4 * inputs) return old
    const device = this.device
    const size = (want: number, had: GPUBuffer | undefined) => Math.max(want, had?.size ?? 0, 16)
    const inputsBuf = device.createBuffer({ label: `wavegrad inputs ${i}`, size: size(inputBytes, old?.inputs), usage: STORAGE | COPY_DST })
    const results = device.createBuffer({ label: `wavegrad results ${i}`, size: size(resultBytes, old?.results), usage: STORAGE | COPY_SRC })
    const params = device.createBuffer({ label: `wavegrad params ${i}`, size: 16, usage: UNIFORM | COPY_DST })
    const steps = device.createBuffer({ label: `wavegrad steps ${i}`, size: size(4 * inputs, old?.steps), usage: STORAGE | COPY_DST })
    if (old) destroySlot(old)
    const slot: Slot = { inputs: inputsBuf, results, params, steps, bindGroup: this.#bindGroup(inputsBuf, results, params, steps) }
    this.#slots[i] = slot
    return slot
  }

  /** The slot's MAP_READ staging buffer, at least `bytes` large. */
  staging(slot: Slot, bytes: number): GPUBuffer {
    if (slot.staging && slot.staging.size >= bytes) return slot.staging
    slot.staging?.destroy()
    slot.staging = this.device.createBuffer({ label: 'wavegrad staging', size: Math.max(bytes, slot.results.size), usage: MAP_READ | COPY_DST })
    return slot.staging
  }

  /**
   * The slot's upload buffer, at least `bytes` large: created mapped, and mapped again (by the
   * caller, after each copy out of it) so that the next tile finds it ready. Reused run after run,
   * unlike the staging memory queue.writeBuffer takes for every large write.
   */
  upload(slot: Slot, bytes: number): UploadStaging {
    if (slot.upload && slot.upload.buffer.size >= bytes) return slot.upload
    slot.upload?.buffer.destroy()
    const buffer = this.device.createBuffer({ label: 'wavegrad upload', size: Math.max(bytes, slot.inputs.size), usage: MAP_WRITE | COPY_SRC, mappedAtCreation: true })
    slot.upload = new UploadStaging(buffer)
    return slot.upload
  }

  /** The register file, at least `bytes` large (grown, never shrunk). */
  regs(bytes: number): GPUBuffer {
    if (this.#regs && this.#regs.size >= bytes) return this.#regs
    this.#regs?.destroy()
    this.#regs = this.device.createBuffer({ label: 'wavegrad register file', size: Math.max(bytes, 16), usage: STORAGE })
    return this.#regs
  }

  /** The register file as it is now (undefined before the first one is made or after destroy). */
  get currentRegs(): GPUBuffer | undefined {
    return this.#regs
  }

  /**
   * Makes a register file of `bytes` unless one exists (one that exists is never replaced here: a
   * run may hold it, its submission still to come). Returns the one it made, or undefined.
   */
  reserveRegs(bytes: number): GPUBuffer | undefined {
    if (this.#regs) return undefined
    return this.regs(bytes)
  }

  /** Forgets `buffer` if it is the register file (one whose creation failed: invalid, never used). */
  dropRegs(buffer: GPUBuffer): void {
    if (this.#regs !== buffer) return
    buffer.destroy()
    this.#regs = undefined
    this.#scratchGroup = undefined
  }

  /** Group 1 of a segmented kernel: the register file as its scratch, at least `bytes` large. */
  scratch(bytes: number): GPUBindGroup {
    const buffer = this.regs(bytes)
    if (this.#scratchGroup?.buffer !== buffer) {
      this.#scratchGroup = { buffer, group: this.device.createBindGroup({ layout: this.layouts.scratch, entries: [{ binding: 0, resource: { buffer } }] }) }
    }
    return this.#scratchGroup.group
  }

  /** A bind group over tiny buffers with params.n = 0 (every thread returns at once). */
  warmup(): GPUBindGroup {
    if (this.#warmup) return this.#warmup
    const device = this.device
    const tiny = (usage: number) => device.createBuffer({ label: 'wavegrad warm-up', size: 16, usage })
    const params = tiny(UNIFORM | COPY_DST)
    device.queue.writeBuffer(params, 0, new Uint32Array([0, 1, 64, 0]))
    this.#warmup = this.#bindGroup(tiny(STORAGE), tiny(STORAGE), params, tiny(STORAGE))
    return this.#warmup
  }

  /** The slot's reduction resources: `partialWords` partial sums, `rows` row indices. */
  sum(slot: Slot, partialWords: number, rows: number, layout: GPUBindGroupLayout): SumResources {
    const old = slot.sum
    if (old && old.results === slot.results && old.inputs === slot.inputs && old.partials.size >= 4 * partialWords && old.which.size >= 4 * rows) return old
    for (const b of old ? [old.partials, old.uniform, old.which] : []) b.destroy()
    const device = this.device
    const partials = device.createBuffer({ label: 'wavegrad partial sums', size: Math.max(16, 4 * partialWords), usage: STORAGE | COPY_SRC })
    const uniform = device.createBuffer({ label: 'wavegrad sum params', size: 32, usage: UNIFORM | COPY_DST })
    const which = device.createBuffer({ label: 'wavegrad summed rows', size: Math.max(16, 4 * rows), usage: STORAGE | COPY_DST })
    const group = device.createBindGroup({
      layout,
      entries: [slot.results, slot.inputs, partials, uniform, which].map((buffer, binding) => ({ binding, resource: { buffer } })),
    })
    slot.sum = { partials, uniform, which, group, results: slot.results, inputs: slot.inputs }
    return slot.sum
  }

  /** Group 1 for warming up a segmented kernel (over a tiny buffer; no thread touches it). */
  warmupScratch(): GPUBindGroup {
    this.#warmupScratch ??= this.device.createBindGroup({
      layout: this.layouts.scratch,
      entries: [{ binding: 0, resource: { buffer: this.device.createBuffer({ label: 'wavegrad warm-up', size: 16, usage: STORAGE }) } }],
    })
    return this.#warmupScratch
  }

  /** Buffers held now (the warm-up's 64 bytes excluded). */
  stats(): { buffers: number; bufferBytes: number } {
    const held = [...this.#slots.flatMap((s) => (s ? slotBuffers(s) : [])), ...(this.#regs ? [this.#regs] : [])]
    return { buffers: held.length, bufferBytes: held.reduce((sum, b) => sum + b.size, 0) }
  }

  destroy(): void {
    for (const s of this.#slots) if (s) destroySlot(s)
    this.#slots = []
    this.#regs?.destroy()
    this.#regs = undefined
    this.#scratchGroup = undefined
  }

  #bindGroup(inputs: GPUBuffer, results: GPUBuffer, params: GPUBuffer, steps: GPUBuffer): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.layouts.kernel,
      entries: [inputs, results, params, steps].map((buffer, binding) => ({ binding, resource: { buffer } })),
    })
  }
}

function slotBuffers(s: Slot): GPUBuffer[] {
  return [s.inputs, s.results, s.params, s.steps, ...(s.staging ? [s.staging] : []), ...(s.upload ? [s.upload.buffer] : []), ...(s.sum ? [s.sum.partials, s.sum.uniform, s.sum.which] : [])]
}

function destroySlot(s: Slot): void {
  for (const b of slotBuffers(s)) b.destroy()
}
