/**
 * The interpreter tier. In: a levelized graph and its plan (buildTape), or nothing (the shader,
 * emitInterpreterWgsl: it depends only on the op table). Out: an instruction tape, and ONE WGSL
 * compute shader per device that runs any tape: each thread takes four bindings (the lanes of vec4
 * registers) and executes the tape's forward instructions and reverse (gather) instructions in
 * order, with node values and adjoints in a register file in GPU memory.
 *
 * Why: a fused kernel is fastest but must be compiled per graph (seconds on a software adapter);
 * the interpreter is compiled once, so any new graph gives its first result at once.
 *
 * Tape: one vec4<u32> per instruction, [code | flags << 16, w1, w2, w3], and a second, [c, 0, 0, 0],
 * for ops of three arguments (F_EXT), in chunks of 64 KiB (a header [count, registers, live, 0] and
 * up to 4095 vec4s), each bound as a UNIFORM buffer with a dynamic offset and run by its own
 * dispatch. Uniform matters: the opcode and flags are then provably the same in every thread, so a
 * SIMD software adapter branches on them instead of running every case under masks (a
 * storage-buffer tape ran ~60x slower on lavapipe). Inside the loop over instructions lavapipe
 * still gathers each tape or register load lane by lane; what an instruction costs is mostly its
 * loads and its dispatch, so the tape is compact and a thread serves four bindings.
 *
 * Each instruction loads the registers its flags name (operands va, vb, vc; the user's value vo),
 * computes `res` in a tree of cases that do arithmetic only, then writes it where its flags say (a
 * partial: into each output's adjoint, after loading that output's adjoint of the user). The loads and stores
 * exist once in the shader, not once per case: that keeps the shader small enough to compile in
 * seconds with four bindings per thread.
 *
 * Fields: forward instructions [code, dst, a, b] (+ c); partials [code, user, a, b] (+ c), which
 * add into the adjoint of argument i (a, b or c) the user's adjoint times the partial;
 * SEED [code, node, mask]; INPUT/CONST [code, dst, index]; COPY [code, row, a]; ZERO [code, row].
 *
 *   INPUT        res = input a of this binding                        → reg[dst]
 *   CONST        res = consts[a]                                      → reg[dst]
 *   COPY         res = reg[a]                                         → results row dst
 *   ZERO         res = 0                                              → results row dst
 *   op           res = op(reg[a], reg[b], reg[c])                     → reg[dst]   (FORWARD + op index)
 *   SEED         adj_j[node] starts at bit j of mask (1 for output j's own node, else 0)
 *   op partial i p = ∂op/∂arg_i(reg[a], reg[b], reg[c], reg[user]); for each output j of the sweep's
 *                group: adj_j[arg] = acc_j + adj_j[user] · p, where acc_j is the previous
 *                instruction's value for j (a node's seed and terms run back to back) or 0 for
 *                its first term; lanes where adj_j[user] == 0 add nothing, as in every engine; the
 *                node's last term writes                                            (PARTIAL + 3·op + i)
 * A reverse sweep serves up to OUTPUT_LANES outputs at once (their count in the flags): the partial
 * and its operands are loaded and computed once for all of them.
 * Registers: node values at [0, live), output j's adjoints at [live·(1 + j), live·(2 + j)). Thread
 * t (bindings 4t..4t+3, one per vec4 lane) of workgroup w keeps register r at
 * regs[(w·registers + r)·W + t mod W]: a workgroup's registers are one contiguous block.
 */
import { adjointSchedule, reachedBy, type Levels } from '../levelize.js'
import { isZeroPartial, opIndex, OPS, OP_NAMES, type OpName, type OpSpec } from '../ops.js'
import { rowIndex, type Plan } from '../plan.js'
import { wgslPrelude } from './prelude.js'

/** Bytes per tape chunk: the WebGPU default maxUniformBufferBindingSize (and a multiple of 256). */
export const CHUNK_BYTES = 65536
const CHUNK_WORDS = CHUNK_BYTES / 4
/** vec4 slots per chunk after its header: an instruction takes one, or two with F_EXT. */
const CHUNK_SLOTS = CHUNK_WORDS / 4 - 1
const INPUT = 0
const CONST = 1
const COPY = 2
const ZERO = 3
/** Seeds a reverse sweep: the adjoint of output j of the group starts at bit j of w2. */
const SEED = 4
/** Outputs a reverse sweep serves at once (flags bits NK_SHIFT.. hold their count - 1). */
export const OUTPUT_LANES = 4
const NK_SHIFT = 10
const OUTPUT_LANE_INDICES = Array.from({ length: OUTPUT_LANES }, (_, j) => j)
const FORWARD = 16
const F_A = 1
const F_B = 2
const F_C = 4
const F_OUT = 8
/** acc = reg[dst] (a chain cut by a chunk boundary: a new dispatch has no previous res). */
const F_ACC = 32
const F_WRITE = 64
const F_ROW = 128
/** acc = the previous instruction's res (a node's terms run back to back; only the last one writes). */
const F_CHAIN = 256
/** A second vec4 follows with operand c (ops of three arguments). */
const F_EXT = 512
/** Room for this many ops (custom ops included) before the partial opcodes: tapes stay valid as ops are added. */
export const MAX_OPS = 1024
const PARTIAL = FORWARD + MAX_OPS
const OPERANDS = ['va', 'vb', 'vc']

export interface Tape {
  /** Chunks of CHUNK_BYTES: a 4-word header [count, registers, live, 0] and the instructions. */
  readonly words: Uint32Array<ArrayBuffer>
  readonly chunks: number
  readonly consts: Float32Array<ArrayBuffer>
  /** Registers per binding (values and adjoints). */
  readonly registers: number
  readonly instructions: number
}

/** One instruction: [code | flags << 16, w1, w2, w3], and [c, 0, 0, 0] after it when F_EXT is set. */
type Instruction = [number, number, number, number, number]

/**
 * The tape of a graph: forward in wavefront order, the outputs' value stores, then per group of up
 * to OUTPUT_LANES outputs one reverse sweep (the sums of every engine's adjointSchedule) and the
 * group's Jacobian stores.
 */
export function buildTape(levels: Levels, plan: Plan): Tape {
  const { graph, order } = levels
  const reg = new Int32Array(graph.nodeCount).fill(-1)
  order.forEach((id, i) => (reg[id] = i))
  const live = order.length
  const tape: Instruction[] = []
  const consts: number[] = [0, 1]
  const emit = (code: number, flags: number, w1: number, w2 = 0, w3 = 0, c = 0) => tape.push([code | (flags << 16), w1, w2, w3, c])
  const argFlags = [0, F_A, F_A | F_B, F_A | F_B | F_C | F_EXT]
  const constIndex = new Map<number, number>()
  const constant = (v: number) => {
    let i = constIndex.get(v)
    if (i === undefined) {
      i = consts.length
      consts.push(v)
      constIndex.set(v, i)
    }
    return i
  }

  for (const id of order) {
    const kind = graph.kind(id)
    if (kind === 'input') emit(INPUT, F_WRITE, reg[id]!, graph.inputs.indexOf(graph.label(id)!))
    else if (kind === 'const') emit(CONST, F_WRITE, reg[id]!, constant(graph.constValue(id)))
    else {
      const args = graph.args(id).map((x) => reg[x]!)
      const [a = 0, b = 0, c = 0] = args
      emit(FORWARD + opIndex(kind), argFlags[args.length]! | F_WRITE, reg[id]!, a, b, c)
    }
  }
  graph.outputs.forEach((output, k) => emit(COPY, F_A | F_ROW, rowIndex(plan, k), reg[graph.outputNode(output)]!))
  // The reverse sweeps, up to OUTPUT_LANES outputs at a time: one walk over the union of their
  // gradient cones computes each partial once and adds it into every output's adjoint (adjoint
  // block j of the group at registers live·(1 + j)). An output whose cone misses a node holds an
  // exact 0 there, so its sums are those of its own sweep (adjointSchedule), term for term.
  const groups = plan.jacobian ? Math.ceil(graph.outputs.length / OUTPUT_LANES) : 0
  const { consumerStart, consumers, consumerSlot } = levels
  for (let group = 0; group < groups; group++) {
    const members = graph.outputs.slice(group * OUTPUT_LANES, (group + 1) * OUTPUT_LANES).map((name, j) => ({ k: group * OUTPUT_LANES + j, out: graph.outputNode(name) }))
    const lanes = (members.length - 1) << NK_SHIFT
    // Per output, the nodes its own sweep reaches (as every engine: seeded or fed by a reached user).
    const reached = members.map(({ out }) => reachedBy(adjointSchedule(levels, out), graph.nodeCount))
    const any = new Uint8Array(graph.nodeCount)
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i]!
      if (!reached.some((has) => has[node])) continue
      any[node] = 1
      const seeds = members.reduce((mask, { out }, j) => (out === node ? mask | (1 << j) : mask), 0)
      const terms: { user: number; slot: number }[] = []
      for (let e = consumerStart[node]!; e < consumerStart[node + 1]!; e++) {
        const user = consumers[e]!
        if (any[user] && !isZeroPartial(graph.kind(user) as OpName, consumerSlot[e]!)) terms.push({ user, slot: consumerSlot[e]! })
      }
      // A node's terms run back to back, each adding to the previous one's res; only the last writes.
      if (seeds) emit(SEED, lanes | (terms.length ? 0 : F_WRITE), reg[node]!, seeds)
      terms.forEach(({ user, slot }, j) => {
        const kind = graph.kind(user) as OpName
        const args = graph.args(user).map((x) => reg[x]!)
        const [a = 0, b = 0, c = 0] = args
        const flags = partialLoads(kind, slot) | (args.length === 3 ? F_EXT : 0) | lanes | (seeds || j > 0 ? F_CHAIN : 0) | (j === terms.length - 1 ? F_WRITE : 0)
        emit(PARTIAL + 3 * opIndex(kind) + slot, flags, reg[user]!, a, b, c)
      })
    }
    members.forEach(({ k }, j) => {
      graph.inputs.forEach((input, i) => {
        const id = graph.inputNode(input)
        if (reached[j]![id]) emit(COPY, F_A | F_ROW, rowIndex(plan, k, i), live * (1 + j) + reg[id]!)
        else emit(ZERO, F_ROW, rowIndex(plan, k, i))
      })
    })
  }
  const adjointBlocks = plan.jacobian ? Math.min(OUTPUT_LANES, graph.outputs.length) : 0
  const registers = (1 + adjointBlocks) * Math.max(live, 1)
  // Chunks of whole instructions. A chain cut by a chunk boundary (a new dispatch has no previous
  // res): the instruction before the cut writes, the one after reads reg[dst].
  const parts: Instruction[][] = [[]]
  let used = 0
  tape.forEach((ins, i) => {
    const size = (ins[0] >>> 16) & F_EXT ? 2 : 1
    if (used + size > CHUNK_SLOTS) {
      parts.push([])
      used = 0
      if ((ins[0] >>> 16) & F_CHAIN) {
        tape[i - 1]![0] |= F_WRITE << 16
        ins[0] = (ins[0] & ~(F_CHAIN << 16)) | (F_ACC << 16)
      }
    }
    parts[parts.length - 1]!.push(ins)
    used += size
  })
  const words = new Uint32Array(parts.length * CHUNK_WORDS)
  parts.forEach((part, c) => {
    let at = c * CHUNK_WORDS
    words.set([part.length, registers, live, 0], at)
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
  return { words, chunks: parts.length, consts: Float32Array.from(consts), registers, instructions: tape.length }
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
export function emitInterpreterWgsl(): string {
  const helpers = new Set<string>()
  const W = INTERPRETER_WORKGROUP
  const R = (r: string) => `regs[base + ${r} * ${W}u]`
  const lanes = (f: (c: string, k: number) => string) => `vec4<f32>(${COMPONENTS.map(f).join(', ')})`
  const cases: { code: number; body: string }[] = [
    { code: INPUT, body: `let st = steps[ins_a]; let o = ins_a * s; res = ${lanes((_, k) => `inputs[o + (b0 + ${k}u) * st]`)};` },
    { code: CONST, body: 'res = vec4<f32>(consts[ins_a]);' },
    { code: COPY, body: 'res = va;' },
    { code: ZERO, body: 'res = vec4<f32>(0.0);' },
  ]
  OP_NAMES.forEach((name, i) => {
    const spec: OpSpec = OPS[name]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const at = (c: string) => OPERANDS.slice(0, spec.arity).map((v) => `${v}.${c}`)
    cases.push({ code: FORWARD + i, body: `res = ${lanes((c) => spec.wgsl(at(c), [], `vo.${c}`))};` })
    spec.wgslPartials.forEach((partial, slot) => {
      if (!isZeroPartial(name, slot)) cases.push({ code: PARTIAL + 3 * i + slot, body: `res = ${lanes((c) => partial(at(c), [], `vo.${c}`))};` })
    })
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
    '  let live = tape[0].z;',
    `  let base = (t / ${W}u) * tape[0].y * ${W}u + t % ${W}u;`,
    ...OUTPUT_LANE_INDICES.map((_, j) => `  var prev${j} = vec4<f32>(0.0);`),
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
    '    var vo = vec4<f32>(0.0);',
    load(F_A, 'va', 'ins_a'),
    load(F_B, 'vb', 'ins_b'),
    load(F_C, 'vc', 'ins_c'),
    load(F_OUT, 'vo', 'w.y'),
    '    var res = vec4<f32>(0.0);',
    ...decisionTree([...cases].sort((p, q) => p.code - q.code), '    '),
    `    if (code >= ${PARTIAL}u || code == ${SEED}u) {`,
    '      // Reverse sweep: res is the partial (unused by SEED). The adjoint written is that of the',
    "      // partial's argument `slot` (of the node w.y for SEED), for each output of the group.",
    `      let slot = (code - ${PARTIAL}u) % 3u;`,
    `      let node = select(w.y, select(select(ins_a, ins_b, slot == 1u), ins_c, slot == 2u), code >= ${PARTIAL}u);`,
    `      let lanes = ((flags >> ${NK_SHIFT}u) & 3u) + 1u;`,
    ...OUTPUT_LANE_INDICES.flatMap((_, j) => [
      `      if (lanes > ${j}u) {`,
      `        let at = live * ${j + 1}u;`,
      '        var acc = vec4<f32>(0.0);',
      `        if ((flags & ${F_CHAIN}u) != 0u) { acc = prev${j}; }`,
      `        if ((flags & ${F_ACC}u) != 0u) { acc = ${R('(at + node)')}; }`,
      '        var r: vec4<f32>;',
      `        if (code == ${SEED}u) { r = vec4<f32>(select(0.0, 1.0, ((w.z >> ${j}u) & 1u) != 0u)); } else {`,
      `          let g = ${R('(at + w.y)')};`,
      '          // Lanes whose adjoint is 0 add nothing (a NaN partial must not leak in), as in every engine.',
      '          r = acc + select(vec4<f32>(0.0), g * res, (bitcast<vec4<u32>>(g) & vec4<u32>(0x7fffffffu)) != vec4<u32>(0u));',
      '        }',
      `        prev${j} = r;`,
      `        if ((flags & ${F_WRITE}u) != 0u) { ${R('(at + node)')} = r; }`,
      '      }',
    ]),
    '    } else {',
    `      if ((flags & ${F_WRITE}u) != 0u) { ${R('w.y')} = res; }`,
    `      if ((flags & ${F_ROW}u) != 0u) {`,
    '        let o = w.y * s + b0;',
    ...COMPONENTS.map((c, k) => `        if (b0 + ${k}u < params.n) { results[o + ${k}u] = res.${c}; }`),
    '      }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n')
}

/** The registers op `kind`'s partial `slot` reads (F_A, F_B, F_C, F_OUT): a constant partial (add, sub) loads none. */
function partialLoads(kind: OpName, slot: number): number {
  const spec = OPS[kind]
  const text = spec.wgslPartials[slot]!(OPERANDS.slice(0, spec.arity), [], 'vo')
  return [F_A, F_B, F_C].reduce((flags, flag, i) => (new RegExp(`\\b${OPERANDS[i]}\\b`).test(text) ? flags | flag : flags), /\bvo\b/.test(text) ? F_OUT : 0)
}

/**
 * Dispatch on the opcode as a balanced tree of comparisons (log2 of ~100 cases = 7 tests) rather
 * than a switch, which a software adapter may lower to a chain of ~100 tests per instruction.
 * `cases` sorted by code. A leaf tests its code too unless `checkLeaf` is false (where every code
 * that reaches the tree has a case: bench/wavefront).
 */
export function decisionTree(cases: readonly { code: number; body: string }[], indent: string, checkLeaf = true): string[] {
  if (cases.length === 1) return [checkLeaf ? `${indent}if (code == ${cases[0]!.code}u) { ${cases[0]!.body} }` : `${indent}{ ${cases[0]!.body} }`]
  const mid = cases.length >> 1
  return [
    `${indent}if (code < ${cases[mid]!.code}u) {`,
    ...decisionTree(cases.slice(0, mid), `${indent}  `, checkLeaf),
    `${indent}} else {`,
    ...decisionTree(cases.slice(mid), `${indent}  `, checkLeaf),
    `${indent}}`,
  ]
}
