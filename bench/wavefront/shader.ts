/**
 * The wavefront-parallel prototype's one shader (compiled once per device, for every graph).
 * In: nothing but the op table. Out: WGSL in which a thread takes one (node, binding) pair of one
 * wavefront: forward, it computes the node's value AND its local partials ∂node/∂arg (stored per
 * edge, so the reverse pass needs no op code at all); reverse, it gathers the node's adjoint from
 * its consumers: adj(n) = [n = output] + Σ adj(c) · ∂c/∂n, guarded so a zero adjoint contributes 0.
 *
 * Bindings (group 0):
 *   0 win   : uniform, dynamic offset: [0] = (B, log2 bw, N, mode), [1 + w] = workgroup w's entry
 *             (code, first record, node count, 0). code is uniform per workgroup (it comes from the
 *             workgroup id), so on a SIMD software adapter the op switch is a real branch, not every
 *             case under a mask. Forward workgroups hold nodes of one op; code REVERSE = gather.
 *   1 recs  : forward record (2 vec4 per node): (dst row, a row, b row, c row), (p0, p1, p2 rows,
 *             op code); reverse record (1 vec4): (row, first edge, edge count, output seed bits)
 *   2 edges : (consumer row, partial row) per (node, consumer) edge
 *   3 vals  : vals[row * B + b]                  node values (inputs and constants are rows too)
 *   4 parts : parts[partial row * B + b]         ∂consumer/∂arg, one row per edge into an active arg
 *   5 adj   : adj[(k * N + row) * B + b]         adjoint of row for output k
 * Threads of a workgroup: bw = min(128, next pow2 of B) bindings × 128/bw nodes.
 *
 * `divergent: true` emits the variant that takes each thread's op code from its own node record
 * (workgroups then mix ops): the measurement of what per-thread op divergence costs on a SIMD
 * adapter.
 */
import { isZeroPartial, OP_NAMES, OPS, type OpSpec } from '../../src/ops.js'
import { SHADERS } from '../../src/codegen/shaders.gen.js'
import { decisionTree } from '../../src/codegen/interpreter.js'

export const WAVE_WORKGROUP = 128
/** Entries per uniform window: 64 KiB of vec4 minus the header. */
export const WINDOW_BYTES = 65536
export const WINDOW_ENTRIES = WINDOW_BYTES / 16 - 1
export const REVERSE = 1023
export const NONE = 0xffffffff

export function emitWavefrontWgsl(divergent = false): string {
  const helpers = new Set<string>()
  const cases: { code: number; body: string }[] = []
  OP_NAMES.forEach((name, i) => {
    const spec: OpSpec = OPS[name]
    for (const h of spec.helpers ?? []) helpers.add(h)
    const args = ['va', 'vb', 'vc'].slice(0, spec.arity)
    const parts = spec.wgslPartials.map((p, slot) => (isZeroPartial(name, slot) ? '' : ` p${slot} = ${p(args, [], 'vo')};`)).join('')
    cases.push({ code: i, body: `vo = ${spec.wgsl(args, [], 'vo')};${parts}` })
  })
  const code = divergent ? 'r1.w' : 'e.x'
  return [
    `// wavegrad wavefront-parallel prototype (${OP_NAMES.length} ops): thread = (node of one wavefront, binding)`,
    ...[...helpers].sort().map((h) => SHADERS[h]!.trimEnd()),
    `@group(0) @binding(0) var<uniform> win: array<vec4<u32>, ${WINDOW_BYTES / 16}>;`,
    '@group(0) @binding(1) var<storage, read> recs: array<vec4<u32>>;',
    '@group(0) @binding(2) var<storage, read> edges: array<vec2<u32>>;',
    '@group(0) @binding(3) var<storage, read_write> vals: array<f32>;',
    '@group(0) @binding(4) var<storage, read_write> parts: array<f32>;',
    '@group(0) @binding(5) var<storage, read_write> adj: array<f32>;',
    '',
    `@compute @workgroup_size(${WAVE_WORKGROUP})`,
    'fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {',
    '  let hdr = win[0];',
    '  let B = hdr.x;',
    '  let shift = hdr.y;',
    '  let e = win[1u + wg.x];',
    '  let jr = li >> shift;',
    '  let braw = (wg.y << shift) + (li & ((1u << shift) - 1u));',
    // Out-of-range threads compute on clamped indices and skip the stores: no early return, so the
    // op branch below stays in uniform control flow.
    '  let valid = jr < e.z && braw < B;',
    '  let b = min(braw, B - 1u);',
    '  let j = min(jr, e.z - 1u);',
    `  if (e.x == ${REVERSE}u) {`,
    '    let rec = recs[e.y + j];',
    '    let k = wg.z;',
    '    let base = k * hdr.z;',
    '    var g = select(0.0, 1.0, ((rec.w >> k) & 1u) != 0u);',
    '    for (var q = 0u; q < rec.z; q++) {',
    '      let ed = edges[rec.y + q];',
    '      let ga = adj[(base + ed.x) * B + b];',
    '      g += select(ga * parts[ed.y * B + b], 0.0, ga == 0.0);',
    '    }',
    '    if (valid) { adj[(base + rec.x) * B + b] = g; }',
    '    return;',
    '  }',
    '  let r0 = recs[e.y + 2u * j];',
    '  let r1 = recs[e.y + 2u * j + 1u];',
    `  let code = ${code};`,
    '  let va = vals[r0.y * B + b];',
    '  let vb = vals[r0.z * B + b];',
    '  let vc = vals[r0.w * B + b];',
    '  var vo = 0.0;',
    '  var p0 = 0.0;',
    '  var p1 = 0.0;',
    '  var p2 = 0.0;',
    ...decisionTree(cases, '  ', false),
    '  if (valid) {',
    '    vals[r0.x * B + b] = vo;',
    `    if (r1.x != ${NONE}u) { parts[r1.x * B + b] = p0; }`,
    `    if (r1.y != ${NONE}u) { parts[r1.y * B + b] = p1; }`,
    `    if (r1.z != ${NONE}u) { parts[r1.z * B + b] = p2; }`,
    '  }',
    '}',
    '',
  ].join('\n')
}
