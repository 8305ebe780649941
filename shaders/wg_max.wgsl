// max with NaN propagation and ties to the first argument (WGSL's max() leaves NaN undefined). The
// NaN test reads the bits: a driver may turn comparisons and selects into its own max (NVIDIA's
// does, and returns 0 for relu(NaN)).
fn wg_max(a: f32, b: f32) -> f32 {
  let m = select(b, a, a >= b);
  return select(select(m, b, (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u), a, (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u);
}
