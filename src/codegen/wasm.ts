/**
 * emitWasm: Program -> a WebAssembly SIMD kernel over the batch, for programs of arithmetic only.
 * In: a program whose every node is one of WASM_OPS (pow only with the constant exponent 2). Out:
 * the same CompiledJs as emitJs (inputs, rows, start, len), computing the same float64 numbers to
 * the last bit, two bindings per instruction (f64x2); or undefined where the program has another op
 * or WebAssembly SIMD is missing, and emitJs runs it.
 *
 * Why: for a graph of a few arithmetic operations per binding (the seed, Rosenbrock) generated
 * JavaScript spends ~2.3-3 ns per binding in scalar code. Measured at 2^20 bindings into kept arrays:
 * the seed 2.4 ms here against 3.1 ms generated, Rosenbrock 4.4 against 3.9 (its masks and block
 * copies cost more than the lanes save). The CPU engine times both per graph and keeps the faster.
 *
 * Exactness: every op here is one IEEE operation in the reference (evaluateCpu, ops.ts `eval`), and
 * wasm's f64x2 add/sub/mul/div/sqrt round the same way; the ops with JavaScript semantics of their
 * own (min, max, relu, where, comparisons, gmadd's zero-adjoint rule, x² = x·x) are built from
 * lane masks and bitselect to take the same branch per lane (min(+0, −0) = +0 as `a <= b ? a : …`
 * does, not wasm's f64x2.min). Transcendentals (Math.sin, …) have no wasm instruction: a program
 * with one stays on emitJs.
 *
 * Layout: the kernel's own memory holds one block of BLOCK bindings, 8 bytes a binding a region:
 * input k's region at k·BLOCK·8 (a broadcast number written over it once per call), row r's at
 * (inputs + r)·BLOCK·8. A float32 input or row keeps its own type there (4 bytes used of 8): the
 * kernel widens on load (f64x2.promote_low_f32x4) and rounds on store (f32x4.demote_f64x2_zero),
 * so the wrapper's copies in and out are plain memcpy (TypedArray.set between two types is an
 * element loop in V8). One kernel per pattern of input and row types. The working set stays in cache.
 */
import { rowsByNode, type Program } from '../program.js'
import { emitJs, type CompiledJs } from './js.js'

/** Ops the wasm kernel computes exactly as the reference does; pow only as x^2. */
export const WASM_OPS: ReadonlySet<string> = new Set(['add', 'sub', 'mul', 'div', 'neg', 'sqrt', 'abs', 'min', 'max', 'relu', 'where', 'gmadd', 'lt', 'le', 'gt', 'ge', 'eq', 'ne', 'pow'])

/** Bindings per block (each a pass through the kernel's memory). */
const BLOCK = 2048
/** Larger programs stay on emitJs (a wasm function with this many v128 locals compiles slowly). */
const MAX_NODES = 4000
/** A block's memory, (inputs + rows)·BLOCK·8 bytes, at most this: a graph of many rows (300 outputs × 300 inputs has 90,300) stays on emitJs. */
const MAX_MEMORY = 8 << 20

// Opcodes (core, and SIMD after the 0xfd prefix: WebAssembly SIMD's final numbering).
const OP = { block: 0x02, loop: 0x03, br: 0x0c, brIf: 0x0d, end: 0x0b, localGet: 0x20, localSet: 0x21, i32Const: 0x41, i32GeU: 0x4f, i32Add: 0x6a, i32Shl: 0x74 }
const SIMD = {
  load: 0x00,
  load64Zero: 0x5d,
  store64Lane: 0x5b,
  demote: 0x5e,
  promote: 0x5f,
  load64Splat: 0x0a,
  store: 0x0b,
  const: 0x0c,
  eq: 0x47,
  ne: 0x48,
  lt: 0x49,
  gt: 0x4a,
  le: 0x4b,
  ge: 0x4c,
  bitselect: 0x52,
  abs: 0xec,
  neg: 0xed,
  sqrt: 0xef,
  add: 0xf0,
  sub: 0xf1,
  mul: 0xf2,
  div: 0xf3,
}
const V128 = 0x7b
const I32 = 0x7f

function uleb(n: number, out: number[]): void {
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n) byte |= 0x80
    out.push(byte)
  } while (n)
}

function sleb(n: number, out: number[]): void {
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) {
      out.push(byte)
      return
    }
    out.push(byte | 0x80)
  }
}

function section(id: number, body: number[], out: number[]): void {
  out.push(id)
  uleb(body.length, out)
  out.push(...body)
}

function name(s: string, out: number[]): void {
  uleb(s.length, out)
  for (const c of s) out.push(c.charCodeAt(0))
}

/** Whether this runtime validates a module with a SIMD instruction (checked once). */
let simd: boolean | undefined
function hasSimd(): boolean {
  if (simd !== undefined) return simd
  // (func (result v128) v128.const 0) — 0 params, 1 v128 result.
  const bytes = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, V128, 3, 2, 1, 0, 10, 22, 1, 20, 0, 0xfd, SIMD.const, ...new Array<number>(16).fill(0), OP.end]
  try {
    simd = typeof WebAssembly === 'object' && WebAssembly.validate(new Uint8Array(bytes))
  } catch {
    simd = false
  }
  return simd
}

/** Whether emitWasm computes this program (every op in WASM_OPS, pow with the constant exponent 2). */
export function wasmComputes(program: Program): boolean {
  const { graph, schedule } = program.levels
  if (schedule.length > MAX_NODES || (graph.inputs.length + program.rows.length) * BLOCK * 8 > MAX_MEMORY) return false
  for (const id of schedule) {
    const kind = graph.kind(id)
    if (kind === 'input' || kind === 'const') continue
    if (!WASM_OPS.has(kind)) return false
    if (kind === 'pow') {
      const exponent = graph.args(id)[1]!
      if (graph.kind(exponent) !== 'const' || graph.constValue(exponent) !== 2) return false
    }
  }
  return true
}

/** A program's kernel for the CPU engine: wasm SIMD where emitWasm computes it, else generated JavaScript. */
export function compileProgram(program: Program): { readonly run: CompiledJs; readonly wasm: boolean } {
  const wasm = emitWasm(program)
  return wasm ? { run: wasm, wasm: true } : { run: emitJs(program), wasm: false }
}

/**
 * The program as a wasm SIMD kernel, or undefined (see the module comment).
 *
 * @example
 * const run = emitWasm(programOf(parse('f = x*y + 1')))!
 * const rows = [new Float64Array(2), new Float64Array(2), new Float64Array(2)]
 * run([[2, 3], [4, 5]], rows, 0, 2)   // rows = [[9, 16], [4, 5], [2, 3]]
 */
export function emitWasm(program: Program): CompiledJs | undefined {
  if (!hasSimd() || !wasmComputes(program)) return undefined
  // One kernel per pattern of input types (float32 arrays, other arrays and numbers as float64)
  // and result types (a row float32 or float64), each converting in its loads and stores: TypedArray.set between types costs
  // V8 a generic loop per element (the seed graph ran 1.4x slower than generated JS with it).
  const variants = new Map<string, CompiledJs | null>()
  return (inputs, rows, start, len) => {
    let key = ''
    for (let r = 0; r < rows.length; r++) key += rows[r] instanceof Float32Array ? 'f' : 'd'
    for (let k = 0; k < inputs.length; k++) key += inputs[k] instanceof Float32Array ? 'f' : 'd'
    let run = variants.get(key)
    const types = Array.from(key, (c) => c === 'f')
    if (run === undefined) variants.set(key, (run = kernel(program, types.slice(0, rows.length), types.slice(rows.length)) ?? null))
    // (A module a browser would not compile synchronously: this pattern runs on generated JS.)
    if (run) run(inputs, rows, start, len)
    else (variants.set(key, (run = emitJs(program))), run(inputs, rows, start, len))
  }
}

/** The kernel for one pattern: float32 row r or not, float32 input k or not. */
function kernel(program: Program, f32Rows: readonly boolean[], f32Inputs: readonly boolean[]): CompiledJs | undefined {
  const { graph, schedule } = program.levels
  const nIn = graph.inputs.length
  const nRows = program.rows.length

  // Locals: 0 the parameter n, 1 the binding index i; then one v128 per value (inputs, constants, nodes).
  let locals = 2
  const local = new Int32Array(graph.nodeCount).fill(-1)
  // Constants by their text (a Map would fold −0 into +0).
  const constLocal = new Map<string, { value: number; local: number }>()
  const constant = (value: number) => {
    const key = Object.is(value, -0) ? '-0' : String(value)
    let c = constLocal.get(key)
    if (!c) constLocal.set(key, (c = { value, local: locals++ }))
    return c.local
  }
  const zero = constant(0)
  const one = constant(1)
  graph.inputs.forEach((input) => (local[graph.inputNode(input)] = locals++))
  const valueOf = (id: number) => (graph.kind(id) === 'const' ? constant(graph.constValue(id)) : local[id]!)
  for (const id of schedule) {
    const kind = graph.kind(id)
    if (kind === 'const') constant(graph.constValue(id))
    else if (kind !== 'input') local[id] = locals++
  }

  const code: number[] = []
  const get = (l: number) => (code.push(OP.localGet), uleb(l, code))
  const set = (l: number) => (code.push(OP.localSet), uleb(l, code))
  const simdOp = (op: number) => (code.push(0xfd), uleb(op, code))
  const memarg = (offset: number) => (code.push(3), uleb(offset, code))
  // Address of binding i in a region of 4- or 8-byte values (the region's offset goes in the memarg).
  const address = (bytes: 4 | 8) => (get(1), code.push(OP.i32Const), sleb(bytes === 4 ? 2 : 3, code), code.push(OP.i32Shl))

  // Prologue: the constants into their locals; then the loop over pairs of bindings.
  for (const { value, local: l } of constLocal.values()) {
    simdOp(SIMD.const)
    code.push(...new Uint8Array(new Float64Array([value, value]).buffer))
    set(l)
  }
  code.push(OP.block, 0x40, OP.loop, 0x40)
  get(1)
  get(0)
  code.push(OP.i32GeU, OP.brIf, 1)
  graph.inputs.forEach((input, k) => {
    if (f32Inputs[k]) {
      address(4)
      simdOp(SIMD.load64Zero)
      memarg(k * BLOCK * 8)
      simdOp(SIMD.promote)
    } else {
      address(8)
      simdOp(SIMD.load)
      memarg(k * BLOCK * 8)
    }
    set(local[graph.inputNode(input)]!)
  })
  const rowsOf = rowsByNode(program)
  const store = (id: number) => {
    for (const r of rowsOf.get(id) ?? []) {
      if (f32Rows[r]) {
        address(4)
        get(valueOf(id))
        simdOp(SIMD.demote)
        simdOp(SIMD.store64Lane)
        memarg((nIn + r) * BLOCK * 8)
        code.push(0)
      } else {
        address(8)
        get(valueOf(id))
        simdOp(SIMD.store)
        memarg((nIn + r) * BLOCK * 8)
      }
    }
  }
  for (const id of schedule) {
    const kind = graph.kind(id)
    if (kind !== 'input' && kind !== 'const') {
      const [a, b, c] = graph.args(id).map(valueOf) as [number, number, number]
      switch (kind) {
        case 'add':
        case 'sub':
        case 'mul':
        case 'div':
          get(a), get(b), simdOp(SIMD[kind])
          break
        case 'neg':
        case 'abs':
        case 'sqrt':
          get(a), simdOp(SIMD[kind])
          break
        case 'pow': // x^2 = x·x exactly (Math.pow(x, 2) returns x * x)
          get(a), get(a), simdOp(SIMD.mul)
          break
        case 'min': // a <= b ? a : b < a ? b : a + b
        case 'max': // a >= b ? a : b > a ? b : a + b
          get(a), get(b), get(a), get(b), simdOp(SIMD.add), get(b), get(a), simdOp(kind === 'min' ? SIMD.lt : SIMD.gt), simdOp(SIMD.bitselect)
          get(a), get(b), simdOp(kind === 'min' ? SIMD.le : SIMD.ge), simdOp(SIMD.bitselect)
          break
        case 'relu': // a > 0 ? a : a === a ? 0 : a
          get(a), get(zero), get(a), get(a), get(a), simdOp(SIMD.eq), simdOp(SIMD.bitselect), get(a), get(zero), simdOp(SIMD.gt), simdOp(SIMD.bitselect)
          break
        case 'where': // c !== 0 ? a : b
          get(b), get(c), get(a), get(zero), simdOp(SIMD.ne), simdOp(SIMD.bitselect)
          break
        case 'gmadd': {
          // g === 0 ? acc : acc + g·p; a constant g (a sweep's constant partial) takes one branch for every lane.
          const g = graph.args(id)[1]!
          const constantG = graph.kind(g) === 'const' ? graph.constValue(g) : undefined
          if (constantG === 0) get(a)
          else if (constantG !== undefined) get(a), get(b), get(c), simdOp(SIMD.mul), simdOp(SIMD.add)
          else get(a), get(a), get(b), get(c), simdOp(SIMD.mul), simdOp(SIMD.add), get(b), get(zero), simdOp(SIMD.eq), simdOp(SIMD.bitselect)
          break
        }
        default: // comparisons: test(a, b) ? 1 : 0
          get(one), get(zero), get(a), get(b), simdOp(SIMD[kind as 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne']), simdOp(SIMD.bitselect)
      }
      set(local[id]!)
    }
    store(id)
  }
  get(1)
  code.push(OP.i32Const)
  sleb(2, code)
  code.push(OP.i32Add)
  set(1)
  code.push(OP.br, 0, OP.end, OP.end, OP.end)

  // The function body: locals (1 i32: i; the rest v128), then the code.
  const body: number[] = []
  uleb(2, body)
  body.push(1, I32)
  uleb(locals - 2, body)
  body.push(V128)
  body.push(...code)
  const module: number[] = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]
  section(1, [1, 0x60, 1, I32, 0], module)
  const imports: number[] = [1]
  name('env', imports)
  name('mem', imports)
  imports.push(2, 0, 1)
  section(2, imports, module)
  section(3, [1, 0], module)
  const exports: number[] = [1]
  name('run', exports)
  exports.push(0, 0)
  section(7, exports, module)
  const codeSection: number[] = [1]
  uleb(body.length, codeSection)
  codeSection.push(...body)
  section(10, codeSection, module)

  const memory = new WebAssembly.Memory({ initial: Math.ceil(((nIn + nRows) * BLOCK * 8) / 65536) })
  let instance: WebAssembly.Instance
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(module)), { env: { mem: memory } })
  } catch {
    // A browser refuses to compile a large module synchronously on its main thread.
    return undefined
  }
  const run = instance.exports.run as (n: number) => void
  const f64 = new Float64Array(memory.buffer)
  const f32 = new Float32Array(memory.buffer)
  // Views of each region, in the type it holds (f32 regions at 2·BLOCK floats per input slot).
  const inRegion = f32Inputs.map((f, k) => (f ? f32.subarray(2 * k * BLOCK, 2 * k * BLOCK + BLOCK) : f64.subarray(k * BLOCK, (k + 1) * BLOCK)))
  const rowRegion = Array.from({ length: nRows }, (_, r) => (f32Rows[r] ? f32.subarray(2 * (nIn + r) * BLOCK, 2 * (nIn + r) * BLOCK + BLOCK) : f64.subarray((nIn + r) * BLOCK, (nIn + r + 1) * BLOCK)))
  return (inputs, rows, start, len) => {
    for (let k = 0; k < nIn; k++) if (typeof inputs[k] === 'number') inRegion[k]!.fill(inputs[k] as number)
    for (let b = start, end = start + len; b < end; b += BLOCK) {
      const n = Math.min(BLOCK, end - b)
      for (let k = 0; k < nIn; k++) {
        const src = inputs[k]!
        if (typeof src === 'number') continue
        const region = inRegion[k]!
        if (ArrayBuffer.isView(src)) region.set((src as unknown as Float64Array).subarray(b, b + n))
        else for (let j = 0; j < n; j++) region[j] = src[b + j]!
      }
      run(n)
      for (let r = 0; r < nRows; r++) rows[r]!.set(n === BLOCK ? rowRegion[r]! : rowRegion[r]!.subarray(0, n), b)
    }
  }
}
