/**
 * WGSL of the field renderer. In: wavegrad's results buffer (read-only storage: rows of n² f32,
 * the first output's value row and its ∂/∂x, ∂/∂y rows at the element offsets in `frame`).
 * Out: a robust value range (compute pass `stats_main`), then the heatmap with contour lines
 * (`field_vs`/`field_fs`) and gradient arrows on a coarse lattice (`arrow_vs`/`arrow_fs`).
 *
 * Screen-space gradient: with uv in [0, 1]² over the view, ∂f/∂u = ∂f/∂x · width and
 * ∂f/∂v = ∂f/∂y · height; arrows use it so that they stay perpendicular to the drawn contours
 * whatever the view's aspect.
 */
import { shadingWgsl } from './shading.js'

/** Bytes of the `Frame` uniform. */
export const FRAME_BYTES = 48
/** Bytes of the `Stats` storage buffer. */
export const STATS_BYTES = 16
/** Threads of the stats workgroup. */
export const STATS_THREADS = 256

/** Bit flags of `frame.flags`. */
export const FLAG_CONTOURS = 1
export const FLAG_LOG = 2
export const FLAG_HAS_DX = 4
export const FLAG_HAS_DY = 8

const COMMON = /* wgsl */ `
struct Frame {
  n: u32,             // grid side
  value_row: u32,     // element offset of the value row in results
  dx_row: u32,        // ... of the df/dx row (if FLAG_HAS_DX)
  dy_row: u32,        // ... of the df/dy row (if FLAG_HAS_DY)
  flags: u32,
  lattice: u32,       // arrows per side
  width: f32,         // view width (x units)
  height: f32,        // view height (y units)
  pixel: f32,         // one canvas pixel in uv units
  _pad0: f32,
  _pad1: f32,
  _pad2: f32,
};

struct Stats {
  t_lo: f32,          // shade_t of the low percentile of f
  t_hi: f32,          // shade_t of the high percentile
  s: f32,             // log softness
  grad_ref: f32,      // median screen-space gradient magnitude
};

@group(0) @binding(0) var<storage, read> results: array<f32>;
@group(0) @binding(2) var<uniform> frame: Frame;

fn is_finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn flag(bit: u32) -> bool {
  return (frame.flags & bit) != 0u;
}

fn at(row: u32, i: u32, j: u32) -> f32 {
  return results[row + j * frame.n + i];
}

fn grad_at(i: u32, j: u32) -> vec2f {
  let fx = select(0.0, at(frame.dx_row, i, j), flag(${FLAG_HAS_DX}u));
  let fy = select(0.0, at(frame.dy_row, i, j), flag(${FLAG_HAS_DY}u));
  return vec2f(fx * frame.width, fy * frame.height);
}
${shadingWgsl()}`

/** Compute pass: percentiles of f and the median gradient magnitude over a 64 × 64 sample. */
export const STATS_WGSL = /* wgsl */ `${COMMON}
@group(0) @binding(1) var<storage, read_write> stats: Stats;

const SIDE: u32 = 64u;
const SAMPLES: u32 = SIDE * SIDE;
const THREADS: u32 = ${STATS_THREADS}u;
const NONFINITE: u32 = 0xffffffffu;
// 16 KiB: exactly the default maxComputeWorkgroupStorageSize.
var<workgroup> keys: array<u32, SAMPLES>;

// Order-preserving u32 key of a float; NaN and ±Inf sort last.
fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if (!is_finite(v)) { return NONFINITE; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}

fn value_of(k: u32) -> f32 {
  if ((k & 0x80000000u) != 0u) { return bitcast<f32>(k & 0x7fffffffu); }
  return bitcast<f32>(~k);
}

fn sample_ij(k: u32) -> vec2u {
  return vec2u((2u * (k % SIDE) + 1u) * frame.n / (2u * SIDE), (2u * (k / SIDE) + 1u) * frame.n / (2u * SIDE));
}

// Bitonic sort of keys by the whole workgroup.
fn sort_keys(t: u32) {
  for (var k = 2u; k <= SAMPLES; k = k << 1u) {
    for (var j = k >> 1u; j > 0u; j = j >> 1u) {
      for (var e = 0u; e < SAMPLES / THREADS; e++) {
        let i = t + e * THREADS;
        let l = i ^ j;
        if (l > i) {
          let a = keys[i];
          let b = keys[l];
          if ((a > b) == ((i & k) == 0u)) {
            keys[i] = b;
            keys[l] = a;
          }
        }
      }
      workgroupBarrier();
    }
  }
}

// Sorted keys: the number of finite ones (binary search for the first NONFINITE).
fn finite_count() -> u32 {
  var lo = 0u;
  var hi = SAMPLES;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (keys[mid] == NONFINITE) { hi = mid; } else { lo = mid + 1u; }
  }
  return lo;
}

fn percentile(p: f32, count: u32) -> f32 {
  return value_of(keys[min(count - 1u, u32(p * f32(count)))]);
}

@compute @workgroup_size(${STATS_THREADS})
fn stats_main(@builtin(local_invocation_index) t: u32) {
  for (var e = 0u; e < SAMPLES / THREADS; e++) {
    let ij = sample_ij(t + e * THREADS);
    keys[t + e * THREADS] = key_of(at(frame.value_row, ij.x, ij.y));
  }
  workgroupBarrier();
  sort_keys(t);
  var lo = 0.0;
  var hi = 1.0;
  if (t == 0u) {
    let count = finite_count();
    if (count > 0u) {
      lo = percentile(LOW_PERCENTILE, count);
      hi = percentile(HIGH_PERCENTILE, count);
    }
  }
  workgroupBarrier();
  for (var e = 0u; e < SAMPLES / THREADS; e++) {
    let ij = sample_ij(t + e * THREADS);
    keys[t + e * THREADS] = key_of(length(grad_at(ij.x, ij.y)));
  }
  workgroupBarrier();
  sort_keys(t);
  if (t == 0u) {
    let count = finite_count();
    let s = LOG_SOFTNESS * max(abs(lo), abs(hi)) + 1e-30;
    let log_scale = flag(${FLAG_LOG}u);
    stats.t_lo = shade_t(lo, log_scale, s);
    stats.t_hi = shade_t(hi, log_scale, s);
    stats.s = s;
    stats.grad_ref = select(1.0, max(percentile(0.5, count), 1e-30), count > 0u);
  }
}
`

/** Render passes: heatmap + contours (full-screen triangle), then instanced arrows. */
export const DRAW_WGSL = /* wgsl */ `${COMMON}
@group(0) @binding(1) var<storage, read> stats: Stats;

struct FieldOut {
  @builtin(position) pos: vec4f,
  @location(0) uv: vec2f,
};

@vertex
fn field_vs(@builtin(vertex_index) v: u32) -> FieldOut {
  let p = vec2f(f32((v << 1u) & 2u), f32(v & 2u));
  return FieldOut(vec4f(p * 2.0 - 1.0, 0.0, 1.0), p);
}

// Bilinear interpolation of f between cell centres (uv.y = 0 is grid row 0, the bottom).
fn value_uv(uv: vec2f) -> f32 {
  let g = clamp(uv * f32(frame.n) - 0.5, vec2f(0.0), vec2f(f32(frame.n - 1u)));
  let i0 = u32(floor(g.x));
  let j0 = u32(floor(g.y));
  let i1 = min(i0 + 1u, frame.n - 1u);
  let j1 = min(j0 + 1u, frame.n - 1u);
  let w = g - floor(g);
  let r = frame.value_row;
  let bottom = mix(at(r, i0, j0), at(r, i1, j0), w.x);
  let top = mix(at(r, i0, j1), at(r, i1, j1), w.x);
  return mix(bottom, top, w.y);
}

@fragment
fn field_fs(frag: FieldOut) -> @location(0) vec4f {
  let f = value_uv(frag.uv);
  let span = stats.t_hi - stats.t_lo;
  let t = select(0.5, (shade_t(f, flag(${FLAG_LOG}u), stats.s) - stats.t_lo) / span, span > 0.0);
  let u = t * CONTOUR_LEVELS;
  // Screen derivatives in uniform control flow, before any branch.
  let w = fwidth(u);
  if (!is_finite(f) || !is_finite(u)) { return vec4f(0.55, 0.55, 0.55, 1.0); }
  var color = viridis(clamp(t, 0.0, 1.0));
  if (flag(${FLAG_CONTOURS}u)) { color = mix(color, CONTOUR_RGB, contour_alpha(u, w)); }
  return vec4f(color, 1.0);
}

struct ArrowOut {
  @builtin(position) pos: vec4f,
  @location(0) color: vec4f,
};

// Instances [0, L²) draw dark outlines, [L², 2L²) the white arrows on top of them.
@vertex
fn arrow_vs(@builtin(vertex_index) v: u32, @builtin(instance_index) instance: u32) -> ArrowOut {
  let count = frame.lattice * frame.lattice;
  let outline = instance < count;
  let a = instance % count;
  let cell = 1.0 / f32(frame.lattice);
  let centre = (vec2f(f32(a % frame.lattice), f32(a / frame.lattice)) + 0.5) * cell;
  let ij = min(vec2u(centre * f32(frame.n)), vec2u(frame.n - 1u));
  let g = grad_at(ij.x, ij.y);
  let m = length(g);
  var out: ArrowOut;
  out.color = select(vec4f(1.0, 1.0, 1.0, 0.95), vec4f(0.0, 0.0, 0.0, 0.6), outline);
  // No arrow where f itself is undefined (its partials may still be finite, e.g. log at x < 0).
  if (!(m > 0.0) || !is_finite(m) || !is_finite(at(frame.value_row, ij.x, ij.y))) {
    out.pos = vec4f(0.0, 0.0, 0.0, 1.0);
    return out;
  }
  let dir = g / m;
  let across = vec2f(-dir.y, dir.x);
  let len = cell * 0.9 * m / (m + stats.grad_ref);
  let px = frame.pixel;
  let o = select(0.0, 1.2 * px, outline);
  let head = 0.4 * len;
  let neck = 0.5 * len - head;
  let shaft = 0.8 * px + o;
  let wing = 0.55 * head + px + o;
  var corners = array<vec2f, 9>(
    vec2f(-0.5 * len - o, -shaft), vec2f(neck, -shaft), vec2f(neck, shaft),
    vec2f(-0.5 * len - o, -shaft), vec2f(neck, shaft), vec2f(-0.5 * len - o, shaft),
    vec2f(neck - o, -wing), vec2f(0.5 * len + 1.5 * o, 0.0), vec2f(neck - o, wing),
  );
  let c = corners[v];
  let p = centre + dir * c.x + across * c.y;
  out.pos = vec4f(p * 2.0 - 1.0, 0.0, 1.0);
  return out;
}

@fragment
fn arrow_fs(frag: ArrowOut) -> @location(0) vec4f {
  return frag.color;
}
`
