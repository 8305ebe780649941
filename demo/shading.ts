/**
 * Shading: how a field of f values becomes colours and contour lines, written once in TypeScript
 * (the CPU fallback) and once in WGSL (the GPU renderer) from the same constants.
 *
 * Range: the robust range [lo, hi] is the 2nd..98th percentile of f over a sample of the grid, so a
 * few huge values (Rosenbrock's corners) do not wash out the picture. With the log option, f is
 * first mapped by t(f) = sign(f) · ln(1 + |f| / s), s = 1e-3 · max(|lo|, |hi|): monotonic, so the
 * percentiles carry over, and it spreads the levels of functions that vary over decades.
 */

/** Percentiles of the robust range. */
export const LOW_PERCENTILE = 0.02
export const HIGH_PERCENTILE = 0.98
/** Softness of the log mapping, relative to the larger end of the range. */
export const LOG_SOFTNESS = 1e-3
/** Contour lines across the robust range. */
export const CONTOUR_LEVELS = 20

/** What the user chose to see. */
export interface Shading {
  readonly contours: boolean
  readonly arrows: boolean
  readonly logScale: boolean
}

/**
 * Viridis as a degree-6 polynomial per channel (fit by Matt Zucker, "Optimal colormaps" on
 * Shadertoy, within 1/255 of the table): c(t) = sum c_k t^k, t in [0, 1].
 */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
  [0.1050930431085774, 1.404613529898575, 1.384590162594685],
  [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
  [-4.634230498983486, -5.799100973351585, -19.33244095627987],
  [6.228269936347081, 14.17993336680509, 56.69055260068105],
  [4.776384997670288, -13.74514537774601, -65.35303263337234],
  [-5.435455855934631, 4.645852612178535, 26.3124352495832],
]

/** Viridis colour of t in [0, 1] as 0..255 RGB. */
export function viridis(t: number): [number, number, number] {
  const rgb: [number, number, number] = [0, 0, 0]
  for (let c = 0; c < 3; c++) {
    let v = 0
    for (let k = VIRIDIS.length - 1; k >= 0; k--) v = v * t + VIRIDIS[k]![c]!
    rgb[c] = Math.round(255 * Math.min(1, Math.max(0, v)))
  }
  return rgb
}

/** The log mapping's softness for a robust range. */
export function softness(lo: number, hi: number): number {
  return LOG_SOFTNESS * Math.max(Math.abs(lo), Math.abs(hi)) + 1e-30
}

/** t(f): identity, or the signed log mapping. */
export function transform(f: number, logScale: boolean, s: number): number {
  return logScale ? Math.sign(f) * Math.log1p(Math.abs(f) / s) : f
}

/** Robust [lo, hi] of the finite numbers in a sample (sorted in place). */
export function robustRange(sample: Float64Array): [number, number] {
  const finite = sample.filter(Number.isFinite).sort()
  if (finite.length === 0) return [0, 1]
  const at = (p: number) => finite[Math.min(finite.length - 1, Math.floor(p * finite.length))]!
  return [at(LOW_PERCENTILE), at(HIGH_PERCENTILE)]
}

/**
 * Darkening (0..1) of a pixel by contour lines: u is the level coordinate (t · levels), w its change
 * across one pixel. Lines are about a pixel wide, every fifth bolder, and fade out where levels
 * crowd closer than a few pixels (noise or a steep wall would turn into moiré).
 */
export function contourAlpha(u: number, w: number): number {
  const d = Math.abs(fract(u + 0.5) - 0.5) / Math.max(w, 1e-6)
  const k = Math.round(u) / 5
  const major = Math.abs(k - Math.round(k)) < 0.1
  const line = (1 - smoothstep(0.5, major ? 2 : 1.5, d)) * (1 - smoothstep(0.2, 0.45, w))
  return line * (major ? 0.75 : 0.45)
}

/** The contour lines' colour. */
export const CONTOUR_RGB: readonly [number, number, number] = [5, 5, 13]

function fract(v: number): number {
  return v - Math.floor(v)
}

function smoothstep(e0: number, e1: number, v: number): number {
  const t = Math.min(1, Math.max(0, (v - e0) / (e1 - e0)))
  return t * t * (3 - 2 * t)
}

/**
 * WGSL of the same mapping: `viridis(t)`, `shade_t(f, log_scale, s)`, `contour_alpha(u, w)` and
 * the constants, prepended to the render shaders.
 */
export function shadingWgsl(): string {
  const vec = (c: readonly number[]) => `vec3f(${c.map((v) => v.toPrecision(17)).join(', ')})`
  const horner = VIRIDIS.slice(1).reduceRight((inner, c) => `${vec(c)} + t * (${inner})`, 'vec3f(0.0)')
  return /* wgsl */ `
const LOW_PERCENTILE: f32 = ${LOW_PERCENTILE};
const HIGH_PERCENTILE: f32 = ${HIGH_PERCENTILE};
const LOG_SOFTNESS: f32 = ${LOG_SOFTNESS};
const CONTOUR_LEVELS: f32 = ${CONTOUR_LEVELS};

fn viridis(t: f32) -> vec3f {
  return clamp(${vec(VIRIDIS[0]!)} + t * (${horner}), vec3f(0.0), vec3f(1.0));
}

fn shade_t(f: f32, log_scale: bool, s: f32) -> f32 {
  if (log_scale) { return sign(f) * log(1.0 + abs(f) / s); }
  return f;
}

fn contour_alpha(u: f32, w: f32) -> f32 {
  let d = abs(fract(u + 0.5) - 0.5) / max(w, 1e-6);
  let k = round(u) / 5.0;
  let major = abs(k - round(k)) < 0.1;
  let line = (1.0 - smoothstep(0.5, select(1.5, 2.0, major), d)) * (1.0 - smoothstep(0.2, 0.45, w));
  return line * select(0.45, 0.75, major);
}

const CONTOUR_RGB = vec3f(${CONTOUR_RGB.map((c) => (c / 255).toFixed(6)).join(', ')});
`
}
