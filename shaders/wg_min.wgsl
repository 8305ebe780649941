// min with NaN propagation and ties to the first argument (WGSL's min() leaves NaN undefined). The
// NaN test reads the bits, as in wg_max.
fn wg_min(a: f32, b: f32) -> f32 {
  let m = select(b, a, a <= b);
  return select(select(m, b, (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u), a, (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u);
}
