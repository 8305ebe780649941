/**
 * The GPU half of parameter gradients: a deterministic reduction. In: rows of a tile's results
 * buffer (the parameters' per-binding ∂output/∂param) and, optionally, per-binding weights (one more
 * row of the inputs buffer). Out: LANES partial sums per row per CHUNK consecutive bindings, in a
 * partials buffer (B/64 floats per row instead of B); the engine reads those back and adds them in
 * float64, in index then tile order.
 *
 * Determinism: partial (chunk c, lane t) sums elements t, t + 64, t + 128, ... of chunk c, in that
 * order, in f32; no atomics, no shared memory, no order that depends on scheduling. So a run gives
 * the same bits every time; only the tile size (where chunks start) changes the rounding, by at most
 * the f32 error of a 64-term sum (about 6 ulp of the sum of |terms|, see test/gpu/params.test.ts).
 * No workgroup barriers: a software adapter runs those as coroutine switches, and a barrier tree
 * made the reduction slower than reading every row back.
 *
 * Bindings (group 0): 0 rows (read), 1 inputs (read: weights at weightBase), 2 partials
 * (read_write), 3 params uniform { n, stride, chunks, weighted, weightBase }, 4 which rows (read).
 */

/** Bindings per workgroup: LANES threads × LANES elements each. */
export const CHUNK = 4096
/** Threads per workgroup, and partial sums per chunk. */
export const LANES = 64

const COMPUTE_STAGE = 0x4

export const REDUCE_WGSL = `// wavegrad: deterministic sums of result rows, ${LANES} partials per ${CHUNK} bindings
struct SumParams { n: u32, stride: u32, chunks: u32, weighted: u32, weightBase: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<storage, read> rows: array<f32>;
@group(0) @binding(1) var<storage, read> inputs: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<uniform> p: SumParams;
@group(0) @binding(4) var<storage, read> which: array<u32>;

@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = which[wg.y];
  var s = 0.0;
  for (var j = 0u; j < ${LANES}u; j = j + 1u) {
    let i = wg.x * ${CHUNK}u + j * ${LANES}u + li;
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
  partials[(wg.y * p.chunks + wg.x) * ${LANES}u + li] = s;
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
