// sin and cos of x, as (sin, cos), accurate to a few f32 ulp for |x| up to ~1e5 on every adapter:
// WGSL only bounds sin/cos absolutely (2^-11 on [-π, π]) and one software adapter is off by 2e-4.
// Cody–Waite reduction by π/2 (π/2 split in three parts, the first two exact in f32 products),
// then the Cephes sinf/cosf minimax polynomials on [-π/4, π/4] and the quadrant's sign/swap.
fn wg_sincos(x: f32) -> vec2<f32> {
  let q = round(x * 0.6366197723675814);
  var r = x - q * 1.5703125;
  r = r - q * 4.837512969970703125e-4;
  r = r - q * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
  // Quadrant k = q mod 4: (s, c), (c, -s), (-s, -c), (-c, s), chosen without branches. k is found
  // in f32 (exact: q is an integer), not by i32(q) & 3: on lavapipe a float-to-int conversion made
  // the compile time of a kernel grow with the square of its sin/cos calls (bench/COMPILE.md).
  let k = q - 4.0 * floor(q * 0.25);
  let swap = (k == 1.0) | (k == 3.0);
  let sv = select(s, c, swap);
  let cv = select(c, s, swap);
  return vec2<f32>(select(sv, -sv, k >= 2.0), select(cv, -cv, (k == 1.0) | (k == 2.0)));
}
