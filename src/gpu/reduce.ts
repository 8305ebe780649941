/**
 * The GPU half of parameter gradients: a deterministic tree reduction. In: rows of a tile's results
 * buffer (the parameters' per-binding ∂output/∂param) and, optionally, per-binding weights (one more
 * row of the inputs buffer). Out: one partial sum per row per CHUNK consecutive bindings, in a
 * partials buffer; the engine reads those back and adds them in float64, in chunk then tile order.
 *
 * Determinism: every partial is the same tree over the same elements (thread t sums elements
 * t, t + 256, t + 512, t + 768 of its chunk in that order, then a fixed halving tree in workgroup
 * memory); no atomics, no order that depends on scheduling. So a run gives the same bits every time;
 * only the tile size (where chunks start) changes the rounding, by at most the f32 error of a
 * 1024-term sum (about 10 ulp of the sum of |terms|, see test/gpu/params.test.ts).
 *
 * Bindings (group 0): 0 rows (read), 1 inputs (read: weights at weightBase), 2 partials
 * (read_write), 3 params uniform { n, stride, chunks, weighted, weightBase }, 4 which rows (read).
 */

/** Bindings per partial sum: 256 threads × 4 elements. */
export const CHUNK = 1024

const COMPUTE_STAGE = 0x4

export const REDUCE_WGSL = `// wavegrad: deterministic tree sum of result rows, ${CHUNK} bindings per partial
struct SumParams { n: u32, stride: u32, chunks: u32, weighted: u32, weightBase: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read> inputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> p: SumParams;
@group(0) @binding(4) var<storage, read> which: array<u32>;
var<workgroup> acc: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = which[wg.y];
  var s = 0.0;
  for (var j = 0u; j < 4u; j = j + 1u) {
    let i = wg.x * ${CHUNK}u + j * 256u + li;
    if (i < p.n) {
      var v = rows[row * p.stride + i];
      if (p.weighted != 0u) {
        // A zero weight drops its binding even where the row is NaN or infinite.
        let w = inputs[p.weightBase + i];
        v = select(v * w, 0.0, w == 0.0);
      }
      s = s + v;
    }
  }
  acc[li] = s;
  workgroupBarrier();
  for (var half = 128u; half > 0u; half = half >> 1u) {
    if (li < half) { acc[li] = acc[li] + acc[li + half]; }
    workgroupBarrier();
  }
  if (li == 0u) { partials[wg.y * p.chunks + wg.x] = acc[0]; }
}
`

/** The reduction's bind group layout (see the header). */
export function reduceBindGroupLayout(device: GPUDevice): GPUBindGroupLayout {
  const storage = (type: GPUBufferBindingType) => ({ visibility: COMPUTE_STAGE, buffer: { type } })
  return device.createBindGroupLayout({
    entries: [
      { binding: 0, ...storage('read-only-storage') },
      { binding: 1, ...storage('read-only-storage') },
      { binding: 2, ...storage('storage') },
      { binding: 3, ...storage('uniform') },
      { binding: 4, ...storage('read-only-storage') },
    ],
  })
}
