/**
 * The interpreter tier. In: a program (buildTape), or nothing (the shader, emitInterpreterWgsl: it
 * depends only on the op table). Out: an instruction tape, and ONE WGSL compute shader per device
 * that runs any tape: each thread takes four bindings (the lanes of vec4 registers) and executes the
 * tape's instructions in order, with node values in a register file in GPU memory.
 *
 * Why: a fused kernel is fastest but must be compiled per graph (seconds on a software adapter);
 * the interpreter is compiled once, so any new graph gives its first result at once. A program is a
 * forward graph (its Jacobians are nodes of it), so the tape is a forward tape: one instruction per
 * node, and the shader holds one case per op.
 *
 * Tape: one vec4<u32> per instruction, [code | flags << 16, dst, a, b], and a second, [c, 0, 0, 0],
 * for ops of three arguments (F_EXT), in chunks of 64 KiB (a header [count, registers, 0, 0] and
 * up to 4095 vec4s), each bound as a UNIFORM buffer with a dynamic offset and run by its own
 * dispatch. Uniform matters: the opcode and flags are then provably the same in every thread, so a
 * SIMD software adapter branches on them instead of running every case under masks (a
 * storage-buffer tape ran ~60x slower on lavapipe). Inside the loop over instructions lavapipe
 * still gathers each tape or register load lane by lane; what an instruction costs is mostly its
 * loads and its dispatch, so the tape is compact and a thread serves four bindings.
 *
 *   INPUT   res = input a of this binding                 → reg[dst]
 *   CONST   res = consts[a]                               → reg[dst]
 *   COPY    res = reg[a]                                  → results row dst
 *   op      res = op(reg[a], reg[b], reg[c])              → reg[dst]   (FORWARD + op index)
 *
 * Registers: allocated over the tape (buildTape): a node's register is free again after its last
 * reader, so the file holds the values live at once (the graph's width, for a forward graph; the
 * values the reverse sweeps still need, for a Jacobian program), not one register per node. Thread
 * t (bindings 4t..4t+3, one per vec4 lane) of workgroup w keeps register r at
 * regs[(w·registers + r)·W + t mod W]: a workgroup's registers are one contiguous block.
 */
import { opIndex, OPS, OP_NAMES, type OpSpec } from '../ops.js'
import { rowsByNode, type Program } from '../program.js'
import { wgslPrelude } from './prelude.js'

/** Bytes per tape chunk: the WebGPU default maxUniformBufferBindingSize (and a multiple of 256). */
export const CHUNK_BYTES = 65536
const CHUNK_WORDS = CHUNK_BYTES / 4
/** vec4 slots per chunk after its header: an instruction takes one, or two with F_EXT. */
const CHUNK_SLOTS = CHUNK_WORDS / 4 - 1
const INPUT = 0
const CONST = 1
const COPY = 2
const FORWARD = 16
const F_A = 1
const F_B = 2
const F_C = 4
const F_WRITE = 64
const F_ROW = 128
/** A second vec4 follows with operand c (ops of three arguments). */
const F_EXT = 512
/** Room for this many ops (custom ops included): the opcode space (registerOp refuses more). */
export const MAX_OPS = 1024
const OPERANDS = ['va', 'vb', 'vc']

export interface Tape {
  /** Chunks of CHUNK_BYTES: a 4-word header [count, registers, 0, 0] and the instructions. */
  readonly words: Uint32Array<ArrayBuffer>
  readonly chunks: number
  readonly consts: Float32Array<ArrayBuffer>
  /** Registers per binding. */
  readonly registers: number
  readonly instructions: number
}

/** One instruction: [code | flags << 16, w1, w2, w3], and [c, 0, 0, 0] after it when F_EXT is set. */
type Instruction = [number, number, number, number, number]

/**
 * The tape of a program: every node of its schedule, each row copied out right after its node,
 * registers reused after their last reader.
 */
export function buildTape(program: Program): Tape {
  const { graph, schedule } = program.levels
  // The position of each node's last reader (a row's copy reads it right after it is made).
  const position = new Int32Array(graph.nodeCount).fill(-1)
  schedule.forEach((id, i) => (position[id] = i))
  const lastUse = Int32Array.from(position)
  for (const id of schedule) for (const a of graph.args(id)) lastUse[a] = Math.max(lastUse[a]!, position[id]!)
  const reg = new Int32Array(graph.nodeCount).fill(-1)
  const free: number[] = []
  let registers = 0
  const rowsOf = rowsByNode(program)

  const tape: Instruction[] = []
  const consts: number[] = []
  const constIndex = new Map<number, number>()
  const constant = (v: number) => {
    const key = Object.is(v, -0) ? -Infinity : v
    let i = constIndex.get(key)
    if (i === undefined) {
      i = consts.length
      consts.push(v)
      constIndex.set(key, i)
    }
    return i
  }
  const argFlags = [0, F_A, F_A | F_B, F_A | F_B | F_C | F_EXT]
  schedule.forEach((id, i) => {
    const kind = graph.kind(id)
    const args = graph.args(id)
    // Arguments read for the last time here give their registers back before the result takes one
    // (the shader loads every operand before it stores).
    for (const a of new Set(args)) if (lastUse[a] === i) free.push(reg[a]!)
    const dst = (reg[id] = free.length ? free.pop()! : registers++)
    if (kind === 'input') tape.push([INPUT | (F_WRITE << 16), dst, graph.inputs.indexOf(graph.label(id)!), 0, 0])
    else if (kind === 'const') tape.push([CONST | (F_WRITE << 16), dst, constant(graph.constValue(id)), 0, 0])
    else {
      const [a = 0, b = 0, c = 0] = args.map((x) => reg[x]!)
      tape.push([(FORWARD + opIndex(kind)) | ((argFlags[args.length]! | F_WRITE) << 16), dst, a, b, c])
    }
    for (const row of rowsOf.get(id) ?? []) tape.push([COPY | ((F_A | F_ROW) << 16), row, dst, 0, 0])
    if (lastUse[id] === i) free.push(dst)
  })
  registers = Math.max(registers, 1)
  // Chunks of whole instructions.
  const parts: Instruction[][] = [[]]
  let used = 0
  for (const ins of tape) {
    const size = (ins[0] >>> 16) & F_EXT ? 2 : 1
    if (used + size > CHUNK_SLOTS) {
      parts.push([])
      used = 0
    }
    parts[parts.length - 1]!.push(ins)
    used += size
  }
  const words = new Uint32Array(parts.length * CHUNK_WORDS)
  parts.forEach((part, c) => {
    let at = c * CHUNK_WORDS
    words.set([part.length, registers, 0, 0], at)
    at += 4
    for (const [w0, w1, w2, w3, ext] of part) {
      words.set([w0, w1, w2, w3], at)
      at += 4
      if ((w0 >>> 16) & F_EXT) {
        words[at] = ext
        at += 4
      }
    }
  })
  return { words, chunks: parts.length, consts: Float32Array.from(consts.length ? consts : [0]), registers, instructions: tape.length }
}

/** Bindings per interpreter thread: each register holds a vec4, one lane per binding. */
export const LANES_PER_THREAD = 4
/** Threads per interpreter workgroup (one SIMD vector of a software adapter: registers stay in cache). */
export const INTERPRETER_WORKGROUP = 8
const COMPONENTS = ['x', 'y', 'z', 'w']

/**
 * Bytes of the register file for a tile of `tile` bindings: a block of registers × workgroup
 * vec4s per workgroup, so one workgroup's registers are contiguous (they stay in cache).
 */
export function registerBytes(registers: number, tile: number): number {
  const threads = Math.ceil(tile / LANES_PER_THREAD)
  return registers * Math.ceil(threads / INTERPRETER_WORKGROUP) * INTERPRETER_WORKGROUP * 16
}

/** The largest tile whose register file fits in `bytes` (at most one storage buffer binding). */
export function interpreterTileLimit(registers: number, bytes: number): number {
  return Math.floor(bytes / (registers * 16 * INTERPRETER_WORKGROUP)) * INTERPRETER_WORKGROUP * LANES_PER_THREAD
}

/**
 * The interpreter shader: bindings 0-3 as every kernel (see gpu/buffers.ts), group 1 = the tape,
 * its constants and the register file. Each thread runs LANES_PER_THREAD bindings as the lanes of
 * vec4 registers: a software adapter loads a register (one loop over its SIMD lanes per
 * access) once for four bindings, and decodes each instruction once for four.
 */
export function emitInterpreterWgsl(without: ReadonlySet<string> = new Set()): string {
  const helpers = new Set<string>()
  const W = INTERPRETER_WORKGROUP
  const R = (r: string) => `regs[base + ${r} * ${W}u]`
  const lanes = (f: (c: string, k: number) => string) => `vec4<f32>(${COMPONENTS.map(f).join(', ')})`
  const cases: { code: number; body: string }[] = [
    { code: INPUT, body: `let st = steps[ins_a]; let o = ins_a * s; res = ${lanes((_, k) => `inputs[o + (b0 + ${k}u) * st]`)};` },
    { code: CONST, body: 'res = vec4<f32>(consts[ins_a]);' },
    { code: COPY, body: 'res = va;' },
  ]
  OP_NAMES.forEach((name, i) => {
    // (An op left out keeps its code: a tape using it is refused before it runs, see Pipelines.)
    if (without.has(name)) return
    const spec: OpSpec = OPS[name]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const at = (c: string) => OPERANDS.slice(0, spec.arity).map((v) => `${v}.${c}`)
    // Operands are read at run time: no constant specialisation (k all undefined).
    cases.push({ code: FORWARD + i, body: `res = ${lanes((c) => spec.wgsl(at(c), []))};` })
  })
  const load = (flag: number, v: string, r: string) => `    if ((flags & ${flag}u) != 0u) { ${v} = ${R(r)}; }`
  return [
    `// wavegrad interpreter: runs any graph's tape (${OP_NAMES.length} ops), ${LANES_PER_THREAD} bindings per thread`,
    ...wgslPrelude(helpers),
    `@group(1) @binding(0) var<uniform> tape: array<vec4<u32>, ${CHUNK_WORDS / 4}>;`,
    '@group(1) @binding(1) var<storage, read> consts: array<f32>;',
    '@group(1) @binding(2) var<storage, read_write> regs: array<vec4<f32>>;',
    '',
    `@compute @workgroup_size(${W})`,
    'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) li: u32) {',
    '  // Whole workgroups only leave (a uniform branch): a divergent return would put every later',
    '  // instruction under a lane mask. Threads past the batch in the last workgroup compute on',
    '  // garbage in their own registers and store no result.',
    '  let wid = wg.x + wg.y * nw.x;',
    `  if (wid * ${W * LANES_PER_THREAD}u >= params.n) { return; }`,
    `  let t = wid * ${W}u + li;`,
    `  let b0 = t * ${LANES_PER_THREAD}u;`,
    '  let s = params.stride;',
    '  let count = tape[0].x;',
    `  let base = (t / ${W}u) * tape[0].y * ${W}u + t % ${W}u;`,
    '  var pc = 1u;',
    '  for (var i = 0u; i < count; i++) {',
    '    let w = tape[pc];',
    '    pc++;',
    "    let code = w.x & 0xffffu;",
    '    let flags = w.x >> 16u;',
    '    var ins_c = 0u;',
    `    if ((flags & ${F_EXT}u) != 0u) { ins_c = tape[pc].x; pc++; }`,
    '    let ins_a = w.z;',
    '    let ins_b = w.w;',
    '    var va = vec4<f32>(0.0);',
    '    var vb = vec4<f32>(0.0);',
    '    var vc = vec4<f32>(0.0);',
    load(F_A, 'va', 'ins_a'),
    load(F_B, 'vb', 'ins_b'),
    load(F_C, 'vc', 'ins_c'),
    '    var res = vec4<f32>(0.0);',
    ...decisionTree([...cases].sort((p, q) => p.code - q.code), '    '),
    `    if ((flags & ${F_WRITE}u) != 0u) { ${R('w.y')} = res; }`,
    `    if ((flags & ${F_ROW}u) != 0u) {`,
    '      let o = w.y * s + b0;',
    ...COMPONENTS.map((c, k) => `      if (b0 + ${k}u < params.n) { results[o + ${k}u] = res.${c}; }`),
    '    }',
    '  }',
    '}',
    '',
  ].join('\n')
}

/**
 * Dispatch on the opcode as a balanced tree of comparisons (log2 of ~40 cases: 6 tests) rather
 * than a switch, which a software adapter may lower to a chain of tests per instruction. `cases`
 * sorted by code; a leaf tests its code too.
 */
export function decisionTree(cases: readonly { code: number; body: string }[], indent: string): string[] {
  if (cases.length === 1) return [`${indent}if (code == ${cases[0]!.code}u) { ${cases[0]!.body} }`]
  const mid = cases.length >> 1
  return [
    `${indent}if (code < ${cases[mid]!.code}u) {`,
    ...decisionTree(cases.slice(0, mid), `${indent}  `),
    `${indent}} else {`,
    ...decisionTree(cases.slice(mid), `${indent}  `),
    `${indent}}`,
  ]
}
