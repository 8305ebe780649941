// atan2(y, x) with the IEEE results at the origin, where WGSL leaves it undefined (one adapter gave
// 3π/4 for atan2(0, 0)): ±0 toward +x is ±0, toward -x (x = -0) is ±π.
fn wg_atan2(y: f32, x: f32) -> f32 {
  let pi = select(0.0, 3.1415927410125732, (bitcast<u32>(x) & 0x80000000u) != 0u);
  let at_origin = select(pi, -pi, (bitcast<u32>(y) & 0x80000000u) != 0u);
  return select(atan2(y, x), at_origin, (y == 0.0) & (x == 0.0));
}
