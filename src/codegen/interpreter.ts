/**
 * The interpreter tier. In: a levelized graph and its plan (buildTape), or nothing (the shader,
 * emitInterpreterWgsl: it depends only on the op table). Out: an instruction tape, and ONE WGSL
 * compute shader per device that runs any tape: each thread takes one binding and executes the
 * tape's forward instructions and reverse (gather) instructions in order, with node values and
 * adjoints in a register file in GPU memory.
 *
 * Why: a fused kernel is fastest but must be compiled per graph (seconds on a software adapter);
 * the interpreter is compiled once, so any new graph gives its first result at once.
 *
 * Tape: 8 u32 words per instruction, [code, dst, a, b, c, uval, uadj, 0], in chunks of 64 KiB
 * (a header [count, 0, 0, 0] and up to 2047 instructions), each bound as a UNIFORM buffer with a
 * dynamic offset and run by its own dispatch. Uniform matters: the opcode is then provably the
 * same in every thread, so a SIMD software adapter runs one case of the switch instead of all of
 * them under masks (a storage-buffer tape ran ~60x slower on lavapipe).
 *
 *   INPUT        reg[dst] = input a of this binding
 *   CONST        reg[dst] = consts[a]
 *   STORE        results[row a] = reg[dst]
 *   ZERO_ROW     results[row a] = 0
 *   op           reg[dst] = op(reg[a], reg[b], reg[c])                              (FORWARD + op index)
 *   op partial i reg[dst] += reg[uadj] * ∂op/∂arg_i(reg[a], reg[b], reg[c], reg[uval]),
 *                skipped where reg[uadj] == 0, as in every engine                  (PARTIAL + 3·op + i)
 * Registers: node values at [0, live), adjoints at [live, 2·live); register r of binding t lives
 * at regs[r * stride + t] (neighbouring threads, neighbouring words).
 */
import { adjointSchedule, type Levels } from '../levelize.js'
import { isZeroPartial, opIndex, OPS, OP_NAMES, type OpName, type OpSpec } from '../ops.js'
import { rowIndex, type Plan } from '../plan.js'
import { wgslPrelude } from './prelude.js'

export const WORDS_PER_INSTRUCTION = 8
/** Bytes per tape chunk: the WebGPU default maxUniformBufferBindingSize (and a multiple of 256). */
export const CHUNK_BYTES = 65536
const CHUNK_WORDS = CHUNK_BYTES / 4
const PER_CHUNK = Math.floor((CHUNK_WORDS - 4) / WORDS_PER_INSTRUCTION)
const INPUT = 0
const CONST = 1
const STORE = 2
const ZERO_ROW = 3
const FORWARD = 16
/** Room for this many ops (custom ops included) before the partial opcodes: tapes stay valid as ops are added. */
export const MAX_OPS = 1024
const PARTIAL = FORWARD + MAX_OPS
const OPERANDS = ['va', 'vb', 'vc']

export interface Tape {
  /** Chunks of CHUNK_BYTES: a 4-word header (instruction count) and the instructions. */
  readonly words: Uint32Array<ArrayBuffer>
  readonly chunks: number
  readonly consts: Float32Array<ArrayBuffer>
  /** Registers per binding (values and adjoints). */
  readonly registers: number
  readonly instructions: number
}

/**
 * The tape of a graph: forward in wavefront order, then per output its value store, its reverse
 * sweep (the same adjointSchedule as every engine) and its Jacobian stores, in plan.rows order.
 */
export function buildTape(levels: Levels, plan: Plan): Tape {
  const { graph, order } = levels
  const reg = new Int32Array(graph.nodeCount).fill(-1)
  order.forEach((id, i) => (reg[id] = i))
  const live = order.length
  const words: number[] = []
  const consts: number[] = [0, 1]
  const emit = (code: number, dst: number, a = 0, b = 0, c = 0, uval = 0, uadj = 0) => words.push(code, dst, a, b, c, uval, uadj, 0)
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
    if (kind === 'input') emit(INPUT, reg[id]!, graph.inputs.indexOf(graph.label(id)!))
    else if (kind === 'const') emit(CONST, reg[id]!, constant(graph.constValue(id)))
    else {
      const [a = 0, b = 0, c = 0] = graph.args(id).map((x) => reg[x]!)
      emit(FORWARD + opIndex(kind), reg[id]!, a, b, c)
    }
  }
  graph.outputs.forEach((output, k) => {
    const out = graph.outputNode(output)
    emit(STORE, reg[out]!, rowIndex(plan, k))
    if (!plan.jacobian) return
    const has = new Uint8Array(graph.nodeCount)
    for (const { node, seed, users } of adjointSchedule(levels, out)) {
      const terms = users.filter(({ user }) => has[user])
      if (!seed && terms.length === 0) continue
      has[node] = 1
      emit(CONST, live + reg[node]!, seed ? 1 : 0)
      for (const { user, slot } of terms) {
        const [a = 0, b = 0, c = 0] = graph.args(user).map((x) => reg[x]!)
        emit(PARTIAL + 3 * opIndex(graph.kind(user) as OpName) + slot, live + reg[node]!, a, b, c, reg[user]!, live + reg[user]!)
      }
    }
    graph.inputs.forEach((input, i) => {
      const id = graph.inputNode(input)
      if (has[id]) emit(STORE, live + reg[id]!, rowIndex(plan, k, i))
      else emit(ZERO_ROW, 0, rowIndex(plan, k, i))
    })
  })
  const instructions = words.length / WORDS_PER_INSTRUCTION
  const chunks = Math.max(1, Math.ceil(instructions / PER_CHUNK))
  const packed = new Uint32Array(chunks * CHUNK_WORDS)
  for (let c = 0; c < chunks; c++) {
    const part = words.slice(c * PER_CHUNK * WORDS_PER_INSTRUCTION, (c + 1) * PER_CHUNK * WORDS_PER_INSTRUCTION)
    packed[c * CHUNK_WORDS] = part.length / WORDS_PER_INSTRUCTION
    packed.set(part, c * CHUNK_WORDS + 4)
  }
  return { words: packed, chunks, consts: Float32Array.from(consts), registers: (plan.jacobian ? 2 : 1) * Math.max(live, 1), instructions }
}

/**
 * The interpreter shader: bindings 0-3 as every kernel (see gpu/buffers.ts), group 1 = the tape,
 * its constants and the register file.
 */
export function emitInterpreterWgsl(workgroupSize: number): string {
  const helpers = new Set<string>()
  const R = (r: string) => `regs[${r} * s + t]`
  const cases: { code: number; body: string }[] = [
    { code: INPUT, body: `${R('ins_dst')} = inputs[ins_a * s + t * steps[ins_a]];` },
    { code: CONST, body: `${R('ins_dst')} = consts[ins_a];` },
    { code: STORE, body: `results[ins_a * s + t] = ${R('ins_dst')};` },
    { code: ZERO_ROW, body: `results[ins_a * s + t] = 0.0;` },
  ]
  OP_NAMES.forEach((name, i) => {
    const spec: OpSpec = OPS[name]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const args = OPERANDS.slice(0, spec.arity)
    const loads = args.map((v, j) => `let ${v} = ${R(`ins_${'abc'[j]}`)};`).join(' ')
    cases.push({ code: FORWARD + i, body: `${loads} ${R('ins_dst')} = ${spec.wgsl(args, [], 'vo')};` })
    spec.wgslPartials.forEach((partial, slot) => {
      if (isZeroPartial(name, slot)) return
      const p = partial(args, [], 'vo')
      const vo = /\bvo\b/.test(p) ? `let vo = ${R('ins_uval')};` : ''
      cases.push({ code: PARTIAL + 3 * i + slot, body: `let g = ${R('ins_uadj')}; if ((bitcast<u32>(g) & 0x7fffffffu) != 0u) { ${loads} ${vo} ${R('ins_dst')} += g * (${p}); }` })
    })
  })
  return [
    `// wavegrad interpreter: runs any graph's tape (${OP_NAMES.length} ops), one thread per binding`,
    ...wgslPrelude(helpers),
    `@group(1) @binding(0) var<uniform> tape: array<vec4<u32>, ${CHUNK_WORDS / 4}>;`,
    '@group(1) @binding(1) var<storage, read> consts: array<f32>;',
    '@group(1) @binding(2) var<storage, read_write> regs: array<f32>;',
    '',
    `@compute @workgroup_size(${workgroupSize})`,
    'fn main(@builtin(global_invocation_id) gid: vec3<u32>) {',
    '  let t = gid.x + gid.y * params.row;',
    '  if (t >= params.n) { return; }',
    '  let s = params.stride;',
    '  let count = tape[0].x;',
    '  for (var i = 0u; i < count; i++) {',
    '    let w0 = tape[1u + 2u * i];',
    '    let w1 = tape[2u + 2u * i];',
    '    let code = w0.x;',
    '    let ins_dst = w0.y;',
    '    let ins_a = w0.z;',
    '    let ins_b = w0.w;',
    '    let ins_c = w1.x;',
    '    let ins_uval = w1.y;',
    '    let ins_uadj = w1.z;',
    ...decisionTree([...cases].sort((p, q) => p.code - q.code), '    '),
    '  }',
    '}',
    '',
  ].join('\n')
}

/**
 * Dispatch on the opcode as a balanced tree of comparisons (log2 of ~100 cases = 7 tests) rather
 * than a switch, which a software adapter may lower to a chain of ~100 tests per instruction.
 */
function decisionTree(cases: readonly { code: number; body: string }[], indent: string): string[] {
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
